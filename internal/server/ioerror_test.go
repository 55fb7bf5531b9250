package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
)

// lockedBuffer is a log destination shared by the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// records returns the JSON log records at level.
func (l *lockedBuffer) records(t *testing.T, level string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		var rec map[string]any
		if line == "" {
			continue
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["level"] == level {
			out = append(out, rec)
		}
	}
	return out
}

// An I/O error from the disk under the store (injected through the
// store's fault hook: EIO from the fsync of a message file, or from
// opening one to read it) fails the command with NO [UNAVAILABLE]; the
// session goes on, nothing half-done is visible (no message, no UID
// consumed), the same command succeeds once the disk behaves, and the
// server logs each failure once, at error level, with the user and the
// mailbox.
func TestStorageIOErrors(t *testing.T) {
	embeddedOnly(t, "injects faults through the embedded store's hook")
	var failing atomic.Value // the operation to fail: "sync", "read" or ""
	failing.Store("")
	logs := &lockedBuffer{}
	e := newTestEnvStore(t, "127.0.0.1:0", sqlitestore.Options{Now: testNow,
		Fault: func(op, path string) error {
			if failing.Load() == op {
				return &fs.PathError{Op: op, Path: path, Err: syscall.EIO}
			}
			return nil
		}}, func(c *Config) { c.Logger = slog.New(slog.NewJSONHandler(logs, nil)) })
	c := e.dial()
	c.login()
	c.send("S1 SELECT INBOX")
	c.until("S1 OK")
	// Larger than the inline threshold: the body goes to a blob file.
	big := "From: a@example.org\r\nSubject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 70)+"\r\n", 2000)
	appendBig := func(tag string) []string {
		c.send(fmt.Sprintf("%s APPEND INBOX {%d+}", tag, len(big)))
		io.WriteString(c.conn, big+"\r\n")
		return c.until(tag + " ")
	}

	failing.Store("sync")
	got := appendBig("A1")
	if last := got[len(got)-1]; last != "A1 NO [UNAVAILABLE] Mail storage error, try again later" {
		t.Fatalf("APPEND with a failing fsync: %q", got)
	}
	c.send("N1 NOOP")
	if got := c.until("N1 "); len(got) != 1 || got[0] != "N1 OK NOOP completed" {
		t.Fatalf("NOOP after the failure: %q (nothing may have changed)", got)
	}
	c.send("T1 STATUS INBOX (MESSAGES UIDNEXT)")
	c.expect(`^\* STATUS INBOX \(MESSAGES 0 UIDNEXT 1\)$`, `^T1 OK`)

	failing.Store("")
	got = appendBig("A2")
	if last := got[len(got)-1]; !strings.HasPrefix(last, "A2 OK [APPENDUID ") || !strings.HasSuffix(last, " 1] APPEND completed") {
		t.Fatalf("APPEND once the disk behaves: %q", got)
	}

	failing.Store("read")
	c.send("F1 FETCH 1 BODY.PEEK[]")
	got = c.until("F1 ")
	if last := got[len(got)-1]; last != "F1 NO [UNAVAILABLE] Mail storage error, try again later" {
		t.Fatalf("FETCH with a failing read: %q", got)
	}
	for _, l := range got[:len(got)-1] {
		if strings.Contains(l, "BODY[]") {
			t.Fatalf("FETCH with a failing read sent part of a body: %q", got)
		}
	}
	failing.Store("")
	c.send("F2 FETCH 1 BODY.PEEK[]")
	got = c.until("F2 ")
	if !strings.HasSuffix(got[0], fmt.Sprintf("BODY[] {%d}", len(big))) || !strings.HasPrefix(got[len(got)-1], "F2 OK") {
		t.Fatalf("FETCH once the disk behaves: %q ... %q", got[0], got[len(got)-1])
	}

	errs := logs.records(t, "ERROR")
	if len(errs) != 2 {
		t.Fatalf("%d error records, want one per failure: %v", len(errs), errs)
	}
	for i, rec := range errs {
		if rec["user"] != testUser || rec["mailbox"] != "INBOX" || !strings.Contains(fmt.Sprint(rec["err"]), "input/output error") {
			t.Errorf("error record %d lacks the user, the mailbox or the cause: %v", i, rec)
		}
	}
	if !strings.Contains(fmt.Sprint(errs[0]["err"]), `mailbox "INBOX"`) {
		t.Errorf("the APPEND failure does not name its target mailbox: %v", errs[0]["err"])
	}
}
