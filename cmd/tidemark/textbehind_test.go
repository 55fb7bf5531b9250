package main

import (
	"bufio"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKillWhileIndexing: tidemark serve writes the text index of a
// MULTIAPPEND behind it. SEARCH BODY answers exactly right after the
// append's OK (the backlog is scanned), the server is killed -9 while the
// indexer works, `tidemark check` finds the index and its mark agreeing,
// and after a restart SEARCH is still exact and the backlog is indexed.
func TestKillWhileIndexing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildTidemark(t)
	data := killTestData(t)
	start := func() (*servedBinary, *lineClient) {
		sb := startServe(t, bin, "--data", data, "--imap", "127.0.0.1:0", "--imaps", "", "--log-format", "json")
		sb.waitLog("listening")
		go func() { // keep the log pipe drained
			for range sb.logs {
			}
		}()
		conn, err := net.Dial("tcp", sb.addrs["imap"])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		c := &lineClient{conn: conn, r: bufio.NewReader(conn)}
		if _, err := c.r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range []string{"LOGIN joe secret-pass", "SELECT Load0"} {
			if _, tagged, err := c.do(cmd); err != nil || !strings.HasPrefix(tagged, "OK") {
				t.Fatalf("%s: %s %v", cmd, tagged, err)
			}
		}
		return sb, c
	}
	// Message i (UID i+1) holds the word w<i>x; every third also "triad".
	const batch = 150
	multiAppend := func(c *lineClient, from int) {
		var b strings.Builder
		b.WriteString("APPEND Load0")
		for i := from; i < from+batch; i++ {
			body := fmt.Sprintf("From: a@example.org\r\nSubject: m%d\r\n\r\nword w%dx here\r\n", i, i)
			if i%3 == 0 {
				body += "and triad too\r\n"
			}
			fmt.Fprintf(&b, " {%d+}\r\n%s", len(body), body)
		}
		if _, tagged, err := c.do(b.String()); err != nil || !strings.HasPrefix(tagged, "OK") {
			t.Fatalf("MULTIAPPEND: %s %v", tagged, err)
		}
	}
	search := func(c *lineClient, n int, stage string) {
		t.Helper()
		for _, i := range []int{0, n / 2, n - 1} {
			un, tagged, err := c.do(fmt.Sprintf("UID SEARCH BODY w%dx", i))
			if err != nil || !strings.HasPrefix(tagged, "OK") || len(un) != 1 || un[0] != fmt.Sprintf("* SEARCH %d", i+1) {
				t.Fatalf("%s: SEARCH BODY w%dx: %q %s %v", stage, i, un, tagged, err)
			}
		}
		var want strings.Builder
		want.WriteString("* SEARCH")
		for i := 0; i < n; i += 3 {
			fmt.Fprintf(&want, " %d", i+1)
		}
		un, tagged, err := c.do("UID SEARCH BODY triad")
		if err != nil || !strings.HasPrefix(tagged, "OK") || len(un) != 1 || un[0] != want.String() {
			t.Fatalf("%s: SEARCH BODY triad: %q %s %v", stage, un, tagged, err)
		}
	}

	sb, c := start()
	multiAppend(c, 0)
	search(c, batch, "right after the OK")
	multiAppend(c, batch)
	multiAppend(c, 2*batch)
	// The indexer starts once appends pause; kill it at work.
	time.Sleep(150 * time.Millisecond)
	if err := sb.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	sb.cmd.Wait()
	if out, err := exec.Command(bin, "check", "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("tidemark check: %v\n%s", err, out)
	}
	_, c = start()
	search(c, 3*batch, "after the restart")
	db, err := sql.Open("sqlite", filepath.Join(data, "users", "joe", "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for deadline := time.Now().Add(hangDeadline); ; time.Sleep(10 * time.Millisecond) {
		var after int64
		err := db.QueryRow(`SELECT value FROM meta WHERE key = 'text_index_pending_after'`).Scan(&after)
		if errors.Is(err, sql.ErrNoRows) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("backlog above %d not indexed", after)
		}
	}
	var rows int
	if err := db.QueryRow(`SELECT count(*) FROM text_body`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 3*batch {
		t.Fatalf("%d index rows for %d messages", rows, 3*batch)
	}
	search(c, 3*batch, "indexed")
}
