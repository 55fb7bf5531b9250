package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/store"
)

var reSearchAll = regexp.MustCompile(`^\* SEARCH(.*)$`)

// peerInbox logs in to addr as alice and returns her INBOX's UIDVALIDITY
// and UIDs (as UID SEARCH ALL prints them).
func peerInbox(t *testing.T, addr string) (uidvalidity uint64, uids string) {
	t.Helper()
	c := dialGreeted(t, addr)
	defer c.conn.Close()
	c.mustOK(t, "LOGIN alice secret-pass")
	_, _, uidvalidity, _ = boxStatus(t, c, "INBOX")
	c.mustOK(t, "SELECT INBOX")
	for _, l := range c.mustOK(t, "UID SEARCH ALL") {
		if m := reSearchAll.FindStringSubmatch(l); m != nil {
			uids = strings.TrimSpace(m[1])
		}
	}
	return uidvalidity, uids
}

// TestRestoreThenReseedPeer: node A (PostgreSQL) replicates alice to node
// B (embedded store). A is backed up, more mail arrives and one message
// is expunged, B gets it all; then A's database is lost and restored from
// the backup, which gives every mailbox a new UIDVALIDITY. The next sync
// is refused (UIDVALIDITY differs) and changes nothing on either side.
// Re-seeding B as docs/deployment.md says (B stopped, its mail store and
// its node id removed, B started again) makes the next sync copy A's
// restored state to B: the same UIDVALIDITY and UIDs on both, the mail of
// the backup and nothing else.
func TestRestoreThenReseedPeer(t *testing.T) {
	if _, err := exec.LookPath("pg_dump"); err != nil {
		t.Skip("pg_dump is not installed")
	}
	bin, root, secret := replicaTest(t)
	ctx := context.Background()
	dsnA := pgtest.DSN(t)
	dirA := filepath.Join(root, "a")
	confA := nodeConf(t, dirA, "127.0.0.1:0", pgSection(dsnA), false, "alice")
	pgCreateUsers(t, dsnA, "alice")
	imapB, replB := freeAddr(t), freeAddr(t)
	confB := nodeConf(t, filepath.Join(root, "b"), imapB,
		fmt.Sprintf("[replication]\nlisten = %q\nsecret_file = %q\n", replB, secret), true, "alice")
	startB := func() *servedBinary {
		sb := startServe(t, bin, "--config", confB)
		waitListening(sb)
		go func() {
			for range sb.logs {
			}
		}()
		return sb
	}
	b := startB()
	sync := func(conf string) (string, error) {
		out, err := exec.Command(bin, "sync", "--config", conf, "--peer", replB, "--secret-file", secret, "--user", "alice").CombinedOutput()
		return string(out), err
	}
	mustSync := func(conf string) {
		t.Helper()
		if out, err := sync(conf); err != nil {
			t.Fatalf("sync: %v\n%s", err, out)
		}
	}
	inboxA := func(dsn string) (store.Account, store.MailboxInfo) {
		a, err := openPG(t, dsn).Open(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		in, err := a.Mailbox(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		return a, in
	}
	appendA := func(from, to int) {
		a, in := inboxA(dsnA)
		var msgs []store.NewMessage
		for i := from; i <= to; i++ {
			msgs = append(msgs, store.NewMessage{Body: strings.NewReader(fmt.Sprintf("Subject: m%d\r\n\r\nbody %d\r\n", i, i))})
		}
		if _, err := a.Append(ctx, in.ID, msgs); err != nil {
			t.Fatal(err)
		}
	}

	appendA(1, 3)
	mustSync(confA)
	backup := filepath.Join(t.TempDir(), "backup")
	runBin(t, bin, "backup", "--config", confA, "--to", backup)
	appendA(4, 5)
	a, in := inboxA(dsnA)
	if _, err := a.Expunge(ctx, in.ID, store.UIDSetOf(2)); err != nil {
		t.Fatal(err)
	}
	mustSync(confA)
	oldValidity, uids := peerInbox(t, imapB)
	if uids != "1 3 4 5" {
		t.Fatalf("B before the restore holds UIDs %q, want 1 3 4 5", uids)
	}

	// A's database is lost; the backup goes into a new one, A's data
	// directory (its node id) stays.
	dsnA2 := pgtest.DSN(t)
	confA2 := filepath.Join(dirA, "restored.toml")
	if err := os.WriteFile(confA2, []byte(fmt.Sprintf("data_dir = %q\n", filepath.Join(dirA, "data"))+pgSection(dsnA2)), 0o600); err != nil {
		t.Fatal(err)
	}
	runBin(t, bin, "restore", "--config", confA2, "--from", backup)
	_, restored := inboxA(dsnA2)
	if uint64(restored.UIDValidity) == oldValidity {
		t.Fatal("the restore kept the UIDVALIDITY")
	}
	if out, err := sync(confA2); err == nil || !strings.Contains(out, "UIDVALIDITY") {
		t.Fatalf("sync of the restored node with its old peer: %v\n%s", err, out)
	}
	if v, uids := peerInbox(t, imapB); v != oldValidity || uids != "1 3 4 5" {
		t.Fatalf("the refused sync changed B: UIDVALIDITY %d UIDs %q", v, uids)
	}

	// Re-seed B from the restored A.
	b.cmd.Process.Signal(syscall.SIGTERM)
	if err := b.cmd.Wait(); err != nil {
		t.Fatalf("B's exit: %v", err)
	}
	dataB := filepath.Join(root, "b", "data")
	for _, p := range []string{"users", "replica-node-id"} {
		if err := os.RemoveAll(filepath.Join(dataB, p)); err != nil {
			t.Fatal(err)
		}
	}
	startB()
	mustSync(confA2)
	v, uids := peerInbox(t, imapB)
	if v != uint64(restored.UIDValidity) || uids != "1 2 3" {
		t.Fatalf("re-seeded B: UIDVALIDITY %d UIDs %q; restored A has UIDVALIDITY %d and UIDs 1 2 3", v, uids, restored.UIDValidity)
	}
	_, after := inboxA(dsnA2)
	if after.UIDValidity != restored.UIDValidity || after.UIDNext != 4 {
		t.Fatalf("A after re-seeding B: %+v", after)
	}
}
