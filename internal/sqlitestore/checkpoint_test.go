package sqlitestore

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestCheckpointInBackground fills a store while the writer's own
// automatic checkpoint cannot fire (the WAL stays far below
// ckptFallbackPages): the pages reach the database file only if the
// background checkpointer copies them, and everything acknowledged is
// there after the store is closed and opened again.
func TestCheckpointInBackground(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	a, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	u := a.u
	u.writeMu.Lock()
	u.ckpt.every = 20
	u.writeMu.Unlock()
	dbPath := filepath.Join(dir, "users", "alice", "meta.db")
	before := fileSize(t, dbPath)
	inbox := mustMailbox(t, a, "INBOX")
	const batches, per = 20, 50
	for b := range batches {
		msgs := make([]store.NewMessage, per)
		for i := range msgs {
			n := b*per + i
			msgs[i].Body = strings.NewReader(testMessage(n, fmt.Sprintf("%s\r\n", strings.Repeat(fmt.Sprintf("line %d of a body long enough to fill pages\r\n", n), 20))))
		}
		if _, err := a.Append(ctx, inbox.ID, msgs); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for u.ckpt.runs.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if u.ckpt.runs.Load() == 0 {
		t.Fatal("the background checkpointer never copied a page")
	}
	if after := fileSize(t, dbPath); after <= before {
		t.Fatalf("database file %d bytes before the appends, %d after: nothing was checkpointed", before, after)
	}
	a.Close()
	s.Close()

	s2 := openStore(t, dir, Options{})
	a2, err := s2.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	var n int
	if err := a2.u.r.QueryRowContext(ctx, `SELECT count(*) FROM messages`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != batches*per {
		t.Fatalf("%d messages after reopening, want %d", n, batches*per)
	}
	assertClean(t, s2, "alice")
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
