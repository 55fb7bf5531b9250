package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/pgstore"
	"github.com/tidemark-mail/tidemark/internal/pgtest"
)

// startNode starts `tidemark serve` on the PostgreSQL database dsn with a
// data directory of its own (accounts stay per node: "joe" is added to
// each), plain IMAP on a free loopback port.
func startNode(t *testing.T, bin, dsn string) *servedBinary {
	t.Helper()
	return startNodeWith(t, bin, fmt.Sprintf("[store]\nkind = \"postgres\"\ndsn = %q\n", dsn), "joe")
}

// startNodeWith starts a node whose configuration has the given [store]
// section, with accounts for users (password "secret-pass").
func startNodeWith(t *testing.T, bin, storeSection string, users ...string) *servedBinary {
	t.Helper()
	conf, _ := writeNodeConf(t, t.TempDir(), storeSection+`
[log]
format = "json"
[imap]
listen = "127.0.0.1:0"
[imaps]
listen = ""
`, users...)
	sb := startServe(t, bin, "--config", conf)
	sb.waitLog("listening")
	return sb
}

// writeNodeConf makes dir/data with logins for users (password
// "secret-pass", hashed cheaply) and dir/tidemark.toml naming that data
// directory, then body. It returns the configuration file and the data
// directory. Every test that starts the binary makes its node so.
func writeNodeConf(t *testing.T, dir, body string, users ...string) (conf, data string) {
	t.Helper()
	data = filepath.Join(dir, "data")
	addAccounts(t, data, users...)
	conf = filepath.Join(dir, "tidemark.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("data_dir = %q\n", data)+body), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf, data
}

// addAccounts adds users to the accounts file of data directory data,
// each with password "secret-pass", hashed cheaply (cheapAccounts).
func addAccounts(t *testing.T, data string, users ...string) {
	t.Helper()
	accts, err := auth.OpenAccountsWith(data, cheapAccounts)
	if err != nil {
		t.Fatal(err)
	}
	defer accts.Close()
	for _, u := range users {
		if err := accts.Add(u, "secret-pass"); err != nil {
			t.Fatal(err)
		}
	}
}

// pgCreateUsers gives users their mail stores in the PostgreSQL database
// dsn, before any node serves it.
func pgCreateUsers(t *testing.T, dsn string, users ...string) {
	t.Helper()
	ctx := context.Background()
	st, err := pgstore.Open(ctx, dsn, pgstore.Options{NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, u := range users {
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
}

// pgUsers lists the users whose mail the PostgreSQL database dsn holds.
func pgUsers(t *testing.T, dsn string) []string {
	t.Helper()
	ctx := context.Background()
	st, err := pgstore.Open(ctx, dsn, pgstore.Options{NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	us, _ := st.Users(ctx)
	return us
}

func login(t *testing.T, addr string, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	return loginAs(t, addr, "joe", opts)
}

func loginAs(t *testing.T, addr, user string, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	cl, err := imapclient.DialInsecure(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if err := cl.Login(user, "secret-pass").Wait(); err != nil {
		t.Fatal(err)
	}
	return cl
}

// TestTwoNodesOneDatabase runs two Tidemark processes on one PostgreSQL
// database. A flag set through node A reaches a client IDLing on node B;
// \Deleted set through A and EXPUNGE sent to B really removes the
// message (B's in-memory copy of the mailbox checks the store first).
func TestTwoNodesOneDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary twice")
	}
	dsn := pgtest.DSN(t)
	pgCreateUsers(t, dsn, "joe")
	bin := buildTidemark(t)
	nodeA, nodeB := startNode(t, bin, dsn), startNode(t, bin, dsn)

	flagsSeen := make(chan []imap.Flag, 10)
	b := login(t, nodeB.addrs["imap"], &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Fetch: func(msg *imapclient.FetchMessageData) {
				if buf, err := msg.Collect(); err == nil && buf.Flags != nil {
					flagsSeen <- buf.Flags
				}
			},
		},
	})
	a := login(t, nodeA.addrs["imap"], nil)
	for i := range 3 {
		msg := fmt.Sprintf("Subject: m%d\r\nMessage-ID: <m%d@x>\r\n\r\nbody\r\n", i, i)
		cmd := a.Append("INBOX", int64(len(msg)), nil)
		cmd.Write([]byte(msg))
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if sel, err := b.Select("INBOX", nil).Wait(); err != nil || sel.NumMessages != 3 {
		t.Fatalf("node B selects %+v, %v", sel, err)
	}
	selA, err := a.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	uidValidity, before := selA.UIDValidity, selA.HighestModSeq

	// IDLE on B hears of a flag set on A.
	idle, err := b.Idle()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case fl := <-flagsSeen:
		if !slices.Contains(fl, imap.FlagFlagged) {
			t.Fatalf("IDLE on node B got flags %v", fl)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("IDLE on node B was not told of the flag set on node A")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}

	// \Deleted on A, EXPUNGE on B at once: B must not answer from a stale
	// copy that has not heard of the flag yet.
	for round := 0; round < 3; round++ {
		uid := imap.UID(3 - round)
		if err := a.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		gone, err := b.Expunge().Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(gone) != 1 {
			t.Fatalf("round %d: EXPUNGE on node B removed %v, want one message", round, gone)
		}
	}
	stA, err := a.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *stA.NumMessages != 0 {
		t.Fatalf("node A status after expunges on B: %+v %v", stA, err)
	}

	// A QRESYNC client that was on node A comes back on node B with the
	// modseq it had: it is told exactly what changed meanwhile (RFC 7162
	// 3.2.5), the flag on 2 and the three expunges.
	conn, err := net.Dial("tcp", nodeB.addrs["imap"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	readUntil(t, conn, r, "* OK")
	fmt.Fprintf(conn, "q1 LOGIN joe secret-pass\r\nq2 ENABLE QRESYNC\r\nq3 SELECT INBOX (QRESYNC (%d %d))\r\n", uidValidity, before)
	readUntil(t, conn, r, "q2 OK")
	var lines []string
	for {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("QRESYNC SELECT: %v after %q", err, lines)
		}
		lines = append(lines, strings.TrimSpace(l))
		if strings.HasPrefix(l, "q3 ") {
			break
		}
	}
	got := strings.Join(lines, "\n")
	if !strings.Contains(got, "* VANISHED (EARLIER) 1:3") || !strings.Contains(got, "q3 OK") {
		t.Fatalf("QRESYNC SELECT on node B after changes through both nodes:\n%s", got)
	}
}

// TestKillOneNodeUnderLoad: node A is killed (SIGKILL) while a client
// appends through it. Every APPEND it acknowledged is in the database, as
// node B shows, and node B keeps serving.
func TestKillOneNodeUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary twice")
	}
	dsn := pgtest.DSN(t)
	pgCreateUsers(t, dsn, "joe")
	bin := buildTidemark(t)
	nodeA, nodeB := startNode(t, bin, dsn), startNode(t, bin, dsn)
	a := login(t, nodeA.addrs["imap"], nil)
	var acked []imap.UID
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			msg := fmt.Sprintf("Subject: load %d\r\nMessage-ID: <load%d@x>\r\n\r\nbody\r\n", i, i)
			cmd := a.Append("INBOX", int64(len(msg)), nil)
			cmd.Write([]byte(msg))
			cmd.Close()
			data, err := cmd.Wait()
			if err != nil {
				return // the node is gone
			}
			acked = append(acked, data.UID)
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	nodeA.cmd.Process.Kill()
	nodeA.cmd.Wait()
	<-done
	if len(acked) == 0 {
		t.Fatal("no APPEND acknowledged before the kill")
	}
	b := login(t, nodeB.addrs["imap"], nil)
	sel, err := b.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	uids, err := b.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	have := uids.AllUIDs()
	for _, u := range acked {
		if !slices.Contains(have, u) {
			t.Fatalf("acknowledged UID %d lost; node B has %d messages", u, sel.NumMessages)
		}
	}
	// At most the one APPEND in flight at the kill may have committed
	// unacknowledged.
	if len(have) > len(acked)+1 {
		t.Fatalf("%d messages for %d acknowledged appends", len(have), len(acked))
	}
	if err := b.Noop().Wait(); err != nil {
		t.Fatalf("node B after node A died: %v", err)
	}
	t.Logf("%d appends acknowledged before the kill", len(acked))
}

// TestShardedUsersOnEveryNode: two front ends, each configured with two
// PostgreSQL clusters (two databases here) and a user directory placing
// ann on the second: both nodes serve both users, a message appended for
// each through node A is seen through node B, and each user's mail is in
// its own cluster.
func TestShardedUsersOnEveryNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary twice")
	}
	dsnDefault, dsnEU := pgtest.DSN(t), pgtest.DSN(t)
	section := fmt.Sprintf("[store]\nkind = \"postgres\"\ndsn = %q\n[store.shards]\neu = %q\n[store.users]\nann = \"eu\"\n", dsnDefault, dsnEU)
	ctx := context.Background()
	pgCreateUsers(t, dsnDefault, "joe")
	pgCreateUsers(t, dsnEU, "ann")
	bin := buildTidemark(t)
	nodeA := startNodeWith(t, bin, section, "joe", "ann")
	nodeB := startNodeWith(t, bin, section, "joe", "ann")
	for _, user := range []string{"joe", "ann"} {
		a := loginAs(t, nodeA.addrs["imap"], user, nil)
		msg := "Subject: for " + user + "\r\n\r\nbody\r\n"
		cmd := a.Append("INBOX", int64(len(msg)), nil)
		cmd.Write([]byte(msg))
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			t.Fatalf("%s: APPEND on node A: %v", user, err)
		}
		b := loginAs(t, nodeB.addrs["imap"], user, nil)
		sel, err := b.Select("INBOX", nil).Wait()
		if err != nil || sel.NumMessages != 1 {
			t.Fatalf("%s on node B: %+v %v", user, sel, err)
		}
	}
	for dsn, want := range map[string]string{dsnDefault: "joe", dsnEU: "ann"} {
		st, err := pgstore.Open(ctx, dsn, pgstore.Options{NoListen: true})
		if err != nil {
			t.Fatal(err)
		}
		a, err := st.Open(ctx, want)
		if err != nil {
			t.Fatal(err)
		}
		inbox, _ := a.Mailbox(ctx, "INBOX")
		s, _ := a.Status(ctx, inbox.ID)
		a.Close()
		us, _ := st.Users(ctx)
		st.Close()
		if s.Messages != 1 || !slices.Equal(us, []string{want}) {
			t.Fatalf("cluster of %s: users %v, INBOX %+v", want, us, s)
		}
	}
}
