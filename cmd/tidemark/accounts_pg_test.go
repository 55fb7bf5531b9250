package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark-mail/tidemark/internal/pgtest"
)

// dialGreeted connects a literal-lines client to addr and reads the
// greeting.
func dialGreeted(t *testing.T, addr string) *lineClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &lineClient{conn: conn, r: bufio.NewReader(conn)}
	c.r.ReadString('\n')
	return c
}

// tryLogin opens a connection to addr and answers the tagged response of
// LOGIN user password ("OK …", "NO …").
func tryLogin(t *testing.T, addr, user, password string) string {
	t.Helper()
	c := dialGreeted(t, addr)
	defer c.conn.Close()
	_, tagged, err := c.do(fmt.Sprintf("LOGIN %s %q", user, password))
	if err != nil {
		t.Fatalf("LOGIN %s: %v", user, err)
	}
	return tagged
}

// TestAccountsOnEveryNode: with the store in PostgreSQL the logins are
// there too, so `tidemark user` run for node A acts on node B at once: an
// account added logs in on B, a password changed makes B refuse the old
// one (which B had just verified and cached) and take the new one, a
// deleted account is refused on B. Node B's own accounts.db from before
// (user "ann") moves into the database when B starts, and ann logs in on
// A.
func TestAccountsOnEveryNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dsn := pgtest.DSN(t)
	pgCreateUsers(t, dsn, "ann")
	bin := buildTidemark(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	confA, dataA := nodeConf(t, dirA, "127.0.0.1:0", pgSection(dsn), false), filepath.Join(dirA, "data")
	confB, dataB := nodeConf(t, dirB, "127.0.0.1:0", pgSection(dsn), false, "ann"), filepath.Join(dirB, "data")
	nodeA := startServe(t, bin, "--config", confA)
	nodeA.waitLog("listening")
	nodeB := startServe(t, bin, "--config", confB)
	imported := nodeB.waitLog("imported this node's accounts into the database")
	if imported["records"] != float64(1) {
		t.Errorf("node B imported %v records, want 1", imported["records"])
	}
	nodeB.waitLog("listening")
	for _, sb := range []*servedBinary{nodeA, nodeB} {
		go func() {
			for range sb.logs {
			}
		}()
	}
	a, b := nodeA.addrs["imap"], nodeB.addrs["imap"]
	if r := tryLogin(t, a, "ann", "secret-pass"); !strings.HasPrefix(r, "OK") {
		t.Fatalf("ann, imported on B, logging in on A: %q", r)
	}
	if _, err := os.Stat(filepath.Join(dataB, "accounts.db.imported")); err != nil {
		t.Errorf("node B's import left no mark: %v", err)
	}

	pwFile := func(pw string) string {
		f := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(f, []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	userA := func(args ...string) string {
		return runBin(t, bin, append([]string{"user", args[0], "--config", confA, "--data", dataA}, args[1:]...)...)
	}

	userA("add", "--password-file", pwFile("first-pw"), "carl")
	cl, err := imapclient.DialInsecure(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login("carl", "first-pw").Wait(); err != nil {
		t.Fatalf("carl, added through A, logging in on B: %v", err)
	}
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("carl's INBOX on B: %v", err)
	}
	cl.Logout().Wait()

	userA("passwd", "--password-file", pwFile("second-pw"), "carl")
	if r := tryLogin(t, b, "carl", "first-pw"); !strings.HasPrefix(r, "NO") {
		t.Errorf("old password on B after passwd on A: %q", r)
	}
	if r := tryLogin(t, b, "carl", "second-pw"); !strings.HasPrefix(r, "OK") {
		t.Errorf("new password on B after passwd on A: %q", r)
	}

	if names := strings.Fields(runBin(t, bin, "user", "list", "--config", confB, "--data", dataB)); !slices.Equal(names, []string{"ann", "carl"}) {
		t.Errorf("user list through B: %v", names)
	}
	userA("del", "--yes", "carl")
	if r := tryLogin(t, b, "carl", "second-pw"); !strings.HasPrefix(r, "NO") {
		t.Errorf("deleted account on B: %q", r)
	}
	if r := tryLogin(t, a, "carl", "second-pw"); !strings.HasPrefix(r, "NO") {
		t.Errorf("deleted account on A: %q", r)
	}
	if slices.Contains(pgUsers(t, dsn), "carl") {
		t.Error("carl's mail store is still in the database")
	}
}
