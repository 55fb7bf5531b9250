package retention

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// History is pruned only once a watermark taken after it is older than
// the age, and younger history stays exact, across a restart of the
// pruner (a new Pruner reading the same file).
func TestPruneByAge(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlitestore.Open(dir, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	a, _ := st.Open(ctx, "alice")
	defer a.Close()
	inbox, _ := a.Mailbox(ctx, "INBOX")
	appendAndExpunge := func() store.ModSeq {
		res, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader("Subject: x\r\n\r\nx\r\n")}})
		if err != nil {
			t.Fatal(err)
		}
		var set store.UIDSet
		set.Add(res.UIDs[0])
		ex, err := a.Expunge(ctx, inbox.ID, set)
		if err != nil {
			t.Fatal(err)
		}
		return ex.ModSeq
	}
	newPruner := func() *Pruner {
		return &Pruner{Store: st, Age: 2 * time.Hour, StateFile: filepath.Join(dir, StateFileName),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := appendAndExpunge()
	if n, err := newPruner().Pass(ctx, t0); err != nil || n != 0 {
		t.Fatalf("first pass: %d %v", n, err)
	}
	second := appendAndExpunge()
	if n, err := newPruner().Pass(ctx, t0.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("pass within the age: %d %v", n, err)
	}
	ch, _ := a.ChangesSince(ctx, inbox.ID, 1)
	if ch.PrunedBelow != 0 {
		t.Fatalf("pruned too early: %d", ch.PrunedBelow)
	}
	n, err := newPruner().Pass(ctx, t0.Add(2*time.Hour+time.Second))
	if err != nil || n != 1 {
		t.Fatalf("pass after the age: %d %v", n, err)
	}
	ch, err = a.ChangesSince(ctx, inbox.ID, first)
	if err != nil {
		t.Fatal(err)
	}
	// Everything up to the first watermark is forgotten, the second
	// expunge is still known exactly.
	if ch.PrunedBelow != first || !ch.Exact || !ch.Vanished.Contains(2) {
		t.Fatalf("after pruning: pruned below %d (want %d), exact %v, vanished %v (second expunge at %d)",
			ch.PrunedBelow, first, ch.Exact, ch.Vanished, second)
	}
	// The same watermark is not used twice.
	if n, _ := newPruner().Pass(ctx, t0.Add(2*time.Hour+2*time.Second)); n != 0 {
		t.Fatalf("pruned again: %d", n)
	}
	// The second watermark passes the age an hour later.
	if n, _ := newPruner().Pass(ctx, t0.Add(3*time.Hour+time.Second)); n != 1 {
		t.Fatalf("second watermark: %d", n)
	}
	ch, _ = a.ChangesSince(ctx, inbox.ID, first)
	if ch.PrunedBelow != second {
		t.Fatalf("pruned below %d, want %d", ch.PrunedBelow, second)
	}
}
