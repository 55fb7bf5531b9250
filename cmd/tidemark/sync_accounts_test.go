package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark-mail/tidemark/internal/auth"
)

// waitRecord waits until the accounts of data hold name in the state
// want (true: a live account whose record equals rec when rec is set;
// false: a tombstone), as replication writes it.
func waitRecord(t *testing.T, data, name string, live bool, like *auth.Record) auth.Record {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a, err := auth.OpenAccounts(data)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := a.Records(context.Background())
		a.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Name == name && r.Deleted == !live && (like == nil || r == *like) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s never became live=%v (%+v): %+v", data, name, live, like, recs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func recordOf(t *testing.T, data, name string) auth.Record {
	t.Helper()
	a, err := auth.OpenAccounts(data)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	recs, err := a.Records(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no record of %s in %s", name, data)
	return auth.Record{}
}

// loginGoIMAP logs in with the go-imap client and returns its error.
func loginGoIMAP(t *testing.T, addr, user, pass string) error {
	t.Helper()
	cl, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	return cl.Login(user, pass).Wait()
}

// loginLiteral logs in with literal lines and returns the tagged answer.
func loginLiteral(t *testing.T, addr, user, pass string) string {
	t.Helper()
	ic := &imapConn{t: t}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ic.c, ic.r = c, bufio.NewReader(c)
	ic.read()
	if _, err := c.Write([]byte("a1 LOGIN " + user + " " + pass + "\r\n")); err != nil {
		t.Fatal(err)
	}
	for {
		l := ic.read()
		if strings.HasPrefix(l, "a1 ") {
			return l
		}
	}
}

// TestAccountsReplicate runs two servers replicating continuously and
// changes accounts with `tidemark user` on either: a user added on A logs
// in on B, a password changed on A works on B (and the old one no longer
// does), a user deleted on B can no longer log in on A and is not brought
// back by A's older record; `tidemark sync` copies the accounts to a new
// store.
func TestAccountsReplicate(t *testing.T) {
	bin, root, secret := replicaTest(t)
	imapA, imapB, replA, replB := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	confA := replicaDir(t, filepath.Join(root, "a"), imapA, replA, secret, replB)
	confB := replicaDir(t, filepath.Join(root, "b"), imapB, replB, secret, replA)
	dataA, dataB := filepath.Join(root, "a", "data"), filepath.Join(root, "b", "data")
	startPair(t, bin, confA, confB)
	user := func(data string, args ...string) {
		t.Helper()
		pw := filepath.Join(root, "pw")
		cmd := exec.Command(bin, append([]string{"user", args[0], "--data", data}, args[1:]...)...)
		if args[0] != "del" {
			if err := os.WriteFile(pw, []byte(args[len(args)-1]+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd = exec.Command(bin, "user", args[0], "--data", data, "--password-file", pw, args[1])
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tidemark user %v: %v\n%s", args, err, out)
		}
	}

	// Added on A: logs in on B.
	user(dataA, "add", "bob", "first-pass")
	waitRecord(t, dataB, "bob", true, nil)
	if err := loginGoIMAP(t, imapB, "bob", "first-pass"); err != nil {
		t.Fatalf("bob on B after add on A: %v", err)
	}

	// Password changed on A: the new one works on B, the old one fails.
	user(dataA, "passwd", "bob", "second-pass")
	ra := recordOf(t, dataA, "bob")
	waitRecord(t, dataB, "bob", true, &ra)
	if got := loginLiteral(t, imapB, "bob", "second-pass"); !strings.HasPrefix(got, "a1 OK") {
		t.Fatalf("new password on B: %s", got)
	}
	if err := loginGoIMAP(t, imapB, "bob", "first-pass"); err == nil {
		t.Fatal("old password still works on B")
	}

	// Deleted on B: gone on A, and it stays gone after full syncs in
	// which A's older record meets B's tombstone.
	user(dataB, "del", "--yes", "bob")
	waitRecord(t, dataA, "bob", false, nil)
	if got := loginLiteral(t, imapA, "bob", "second-pass"); !strings.HasPrefix(got, "a1 NO") {
		t.Fatalf("deleted user on A: %s", got)
	}

	// A new store, not running, gets every account in one `tidemark sync`.
	c := filepath.Join(root, "c")
	out, err := exec.Command(bin, "sync", "--data", c, "--peer", replA, "--secret-file", secret).CombinedOutput()
	if err != nil {
		t.Fatalf("tidemark sync: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "account records") {
		t.Fatalf("sync output: %s", out)
	}
	if r := recordOf(t, c, "bob"); !r.Deleted {
		t.Fatalf("bob on the new store: %+v", r)
	}
	if r, want := recordOf(t, c, "alice"), recordOf(t, dataA, "alice"); r != want {
		t.Fatalf("alice on the new store: %+v, on A %+v", r, want)
	}
	// Still gone on both servers.
	for _, d := range []string{dataA, dataB} {
		if r := recordOf(t, d, "bob"); !r.Deleted {
			t.Fatalf("bob came back in %s: %+v", d, r)
		}
	}
}

// try sends a command and returns its untagged responses and tagged line,
// whatever the answer.
func (ic *imapConn) try(cmd string) ([]string, string) {
	ic.t.Helper()
	ic.next++
	tag := fmt.Sprintf("t%d", ic.next)
	fmt.Fprintf(ic.c, "%s %s\r\n", tag, cmd)
	var out []string
	for {
		l := ic.read()
		if strings.HasPrefix(l, tag+" ") {
			return out, l
		}
		out = append(out, l)
	}
}

// waitQuota repeats GETQUOTA root until a response contains want.
func waitQuota(t *testing.T, ic *imapConn, root, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, tagged := ic.try("GETQUOTA " + root)
		if strings.Contains(tagged, " OK") && strings.Contains(strings.Join(out, "\n"), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GETQUOTA %s never showed %q: %q %s", root, want, out, tagged)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestQuotaReplicate: a limit set with SETQUOTA on A applies on B, a later
// one set on B comes back to A, and both survive a restart of B (they are
// in its overrides file).
func TestQuotaReplicate(t *testing.T) {
	bin, root, secret := replicaTest(t)
	imapA, imapB, replA, replB := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	confA := replicaDir(t, filepath.Join(root, "a"), imapA, replA, secret, replB)
	confB := replicaDir(t, filepath.Join(root, "b"), imapB, replB, secret, replA)
	appendConf(t, "[quota]\nadmins = [\"alice\"]\n", confA, confB)
	createAlice(t, filepath.Join(root, "a", "data"), filepath.Join(root, "b", "data"))
	_, b := startPair(t, bin, confA, confB)
	ca, cb := dialIMAP(t, imapA), dialIMAP(t, imapB)
	ca.run(`SETQUOTA "" (STORAGE 500 MESSAGE 40)`)
	waitQuota(t, cb, `""`, "MESSAGE 0 40)")
	if out, _ := cb.try(`GETQUOTA ""`); !strings.Contains(out[0], "STORAGE 0 500 ") {
		t.Fatalf("B's storage limit: %q", out)
	}
	// Later on B: wins on A.
	cb.run(`SETQUOTA "#user/alice" (MESSAGE 7)`)
	waitQuota(t, ca, `""`, `* QUOTA "" (MESSAGE 0 7)`)

	// B restarted: its limit is still the replicated one.
	cb.c.Close()
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.cmd.Wait()
	b = startServe(t, bin, "--config", confB)
	for b.addrs["imap"] == "" {
		b.waitLog("listening")
	}
	cb = dialIMAP(t, b.addrs["imap"])
	waitQuota(t, cb, `""`, `* QUOTA "" (MESSAGE 0 7)`)
}
