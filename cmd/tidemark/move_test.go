package main

import (
	"bufio"
	"bytes"
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

	"github.com/tidemark-mail/tidemark/internal/pgtest"
)

// TestMoveBetweenClusters runs two front ends over two clusters and moves
// ann from the default cluster to "eu" with `tidemark move` while a client
// is logged in on each node: the client on the old copy is disconnected;
// a client that reconnects with its QRESYNC cache from before the move
// gets exactly the change made meanwhile (same UIDVALIDITY, UIDs and
// modseqs); new mail and logins go to eu on both nodes, whose
// configuration still places ann on the default cluster; the default
// cluster no longer holds her.
func TestMoveBetweenClusters(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary twice")
	}
	dsnDefault, dsnEU := pgtest.DSN(t), pgtest.DSN(t)
	section := fmt.Sprintf("[store]\nkind = \"postgres\"\ndsn = %q\n[store.shards]\neu = %q\n", dsnDefault, dsnEU)
	ctx := context.Background()
	pgCreateUsers(t, dsnDefault, "ann")
	bin := buildTidemark(t)
	nodeA := startNodeWith(t, bin, section, "ann")
	nodeB := startNodeWith(t, bin, section, "ann")

	a := loginAs(t, nodeA.addrs["imap"], "ann", nil)
	for i := 1; i <= 4; i++ {
		msg := fmt.Sprintf("Subject: before %d\r\n\r\nbody\r\n", i)
		cmd := a.Append("INBOX", int64(len(msg)), nil)
		cmd.Write([]byte(msg))
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	// The QRESYNC client's cache: UIDVALIDITY and HIGHESTMODSEQ now.
	ic := dialIMAPAs(t, nodeB.addrs["imap"], "ann")
	sel := ic.run("SELECT INBOX")
	uv, seen := find(t, sel, reUV), find(t, sel, reHMS)
	ic.run("STORE 2 +FLAGS (\\Seen)")
	ic.run("UNSELECT")

	conf := filepath.Join(t.TempDir(), "move.toml")
	if err := os.WriteFile(conf, []byte(section), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	// Six mailboxes: INBOX and the five special-use ones ann got at her
	// first login ([special_use] defaults).
	if code := moveMain(ctx, []string{"--config", conf, "--user", "ann", "--to", "eu", "--grace", "200ms"}, &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), "moved ann from default to eu: 6 mailboxes, 4 messages copied while served") {
		t.Fatalf("move: exit %d: %s%s", code, out.String(), errOut.String())
	}

	// The session on node A held the old copy: its next command ends it.
	if _, err := a.Select("INBOX", nil).Wait(); err == nil {
		if err := a.Noop().Wait(); err == nil {
			t.Fatal("a session on the moved user's old copy still works")
		}
	}
	// A new session, on either node, reaches the copy on eu with the same
	// identities: the resync from before the move returns only UID 2.
	ic = dialIMAPAs(t, nodeA.addrs["imap"], "ann")
	lines := ic.run(fmt.Sprintf("SELECT INBOX (QRESYNC (%s %s))", uv, seen))
	joined := strings.Join(lines, "\n")
	if !strings.Contains(joined, "UIDVALIDITY "+uv+"]") || strings.Count(joined, " FETCH ") != 1 ||
		!strings.Contains(joined, "* 2 FETCH (UID 2 FLAGS (\\Seen") || strings.Contains(joined, "VANISHED") {
		t.Fatalf("resync after the move:\n%s", joined)
	}
	b := loginAs(t, nodeB.addrs["imap"], "ann", nil)
	msg := "Subject: after\r\n\r\nbody\r\n"
	cmd := b.Append("INBOX", int64(len(msg)), nil)
	cmd.Write([]byte(msg))
	cmd.Close()
	if res, err := cmd.Wait(); err != nil || res.UID != 5 {
		t.Fatalf("APPEND after the move: %+v, %v", res, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(strings.Join(ic.run("NOOP"), "\n"), "* 5 EXISTS") {
		if time.Now().After(deadline) {
			t.Fatal("node A's session never saw node B's APPEND on the new cluster")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for dsn, want := range map[string][]string{dsnDefault: nil, dsnEU: {"ann"}} {
		if us := pgUsers(t, dsn); !slices.Equal(us, want) {
			t.Fatalf("cluster %s holds %v, want %v", dsn, us, want)
		}
	}
	// Moving her back works the same way.
	out.Reset()
	if code := moveMain(ctx, []string{"--config", conf, "--user", "ann", "--to", "default", "--grace", "0s"}, &out, &errOut); code != 0 {
		t.Fatalf("move back: exit %d: %s%s", code, out.String(), errOut.String())
	}
	c := loginAs(t, nodeA.addrs["imap"], "ann", nil)
	if s, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, UIDValidity: true}).Wait(); err != nil || *s.NumMessages != 5 || fmt.Sprint(s.UIDValidity) != uv {
		t.Fatalf("after moving back: %+v, %v", s, err)
	}
	if code := moveMain(ctx, []string{"--config", conf, "--user", "ann", "--to", "nowhere"}, &out, &errOut); code != 1 {
		t.Fatalf("move to an unknown cluster: exit %d", code)
	}
}

// dialIMAPAs is dialIMAP for another user (password "secret-pass").
func dialIMAPAs(t *testing.T, addr, user string) *imapConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ic := &imapConn{t: t, c: c, r: bufio.NewReader(c)}
	ic.read()
	ic.run("LOGIN " + user + " secret-pass")
	ic.run("ENABLE QRESYNC")
	return ic
}
