package retention

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/metrics"
	"github.com/tidemark-mail/tidemark/internal/pgstore"
	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/replica"
	"github.com/tidemark-mail/tidemark/internal/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestOnlyTheLeaderPrunes: two processes on one PostgreSQL store run the
// retention loop; only the one holding the role passes, and when it stops
// the other takes over.
func TestOnlyTheLeaderPrunes(t *testing.T) {
	onlyTheLeaderPrunes(t, func(s store.Store) store.Store { return s })
}

// TestOnlyTheLeaderPrunesWrapped: the same through the wrappers serve puts
// around the store with [metrics] and [replication] configured, which must
// not hide that the store is shared, nor its health check.
func TestOnlyTheLeaderPrunesWrapped(t *testing.T) {
	onlyTheLeaderPrunes(t, func(s store.Store) store.Store {
		w := replica.Notify(metrics.New().WrapStore(s), func(string) {})
		if !store.IsShared(w) {
			t.Fatal("the wrapped store does not say it is shared")
		}
		if p, ok := w.(store.Pinger); !ok || p.Ping(context.Background()) != nil {
			t.Fatal("the wrapped store has no working Ping")
		}
		return w
	})
}

func onlyTheLeaderPrunes(t *testing.T, wrap func(store.Store) store.Store) {
	dsn := pgtest.DSN(t)
	open := func() store.Store {
		s, err := pgstore.Open(context.Background(), dsn, pgstore.Options{NoListen: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return wrap(s)
	}
	s1, s2 := open(), open()
	if err := s1.CreateUser(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	var n1, n2 atomic.Int32
	dir := t.TempDir()
	p1 := &Pruner{Store: s1, Age: time.Hour, StateFile: filepath.Join(dir, "1.json"), OnPass: func(int, time.Duration) { n1.Add(1) }}
	p2 := &Pruner{Store: s2, Age: time.Hour, StateFile: filepath.Join(dir, "2.json"), OnPass: func(int, time.Duration) { n2.Add(1) }}
	ctx1, stop1 := context.WithCancel(context.Background())
	done1 := make(chan struct{})
	go func() { p1.Run(ctx1, 10*time.Millisecond); close(done1) }()
	waitFor(t, func() bool { return n1.Load() > 0 }, "the first process passes")
	ctx2, stop2 := context.WithCancel(context.Background())
	done2 := make(chan struct{})
	// The second pruner has stopped writing its state file before the
	// directory is removed.
	defer func() { stop2(); <-done2 }()
	go func() { p2.Run(ctx2, 10*time.Millisecond); close(done2) }()
	before := n1.Load()
	waitFor(t, func() bool { return n1.Load() >= before+5 }, "the leader keeps passing")
	if n := n2.Load(); n != 0 {
		t.Fatalf("the second process passed %d times while the first led", n)
	}
	stop1()
	<-done1
	waitFor(t, func() bool { return n2.Load() > 0 }, "the second process takes over")
}

// waitFor polls cond; the bound only catches a hang.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSharedWatermarksContinue: on a shared store the watermarks live in
// the store, so the process that takes the role over prunes by the clock
// the previous leader started: history older than the age goes at the new
// leader's first pass, younger history stays exact.
func TestSharedWatermarksContinue(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	open := func() *pgstore.Store {
		s, err := pgstore.Open(ctx, dsn, pgstore.Options{NoListen: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	s1, s2 := open(), open()
	if err := s1.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	a, _ := s1.Open(ctx, "alice")
	defer a.Close()
	inbox, _ := a.Mailbox(ctx, "INBOX")
	expungeOne := func() store.ModSeq {
		res, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader("Subject: x\r\n\r\nx\r\n")}})
		if err != nil {
			t.Fatal(err)
		}
		ex, err := a.Expunge(ctx, inbox.ID, store.UIDSetOf(res.UIDs...))
		if err != nil {
			t.Fatal(err)
		}
		return ex.ModSeq
	}
	dir := t.TempDir()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := expungeOne()
	p1 := &Pruner{Store: s1, Age: 2 * time.Hour, StateFile: filepath.Join(dir, "1.json"), Shared: s1}
	if n, err := p1.Pass(ctx, t0); err != nil || n != 0 {
		t.Fatalf("first leader's pass: %d %v", n, err)
	}
	second := expungeOne()
	// Another process, with a state file of its own that never existed,
	// leads now.
	p2 := &Pruner{Store: s2, Age: 2 * time.Hour, StateFile: filepath.Join(dir, "2.json"), Shared: s2}
	if n, err := p2.Pass(ctx, t0.Add(3*time.Hour)); err != nil || n != 1 {
		t.Fatalf("second leader's pass: %d %v", n, err)
	}
	ch, err := a.ChangesSince(ctx, inbox.ID, first-1)
	if err != nil || ch.PrunedBelow != first || ch.Exact {
		t.Fatalf("after the second leader's pass: %+v, %v", ch, err)
	}
	if ch, _ := a.ChangesSince(ctx, inbox.ID, second-1); !ch.Exact || !ch.Vanished.Contains(2) {
		t.Fatalf("younger history: %+v", ch)
	}
	if _, err := os.Stat(filepath.Join(dir, "2.json")); !os.IsNotExist(err) {
		t.Fatalf("a shared pruner wrote a local file: %v", err)
	}
	// Users that are gone lose their watermarks.
	if err := s1.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := p1.Pass(ctx, t0.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if left, err := s1.Settings(ctx, sharedPrefix); err != nil || len(left) != 0 {
		t.Fatalf("watermarks of a deleted user: %v, %v", left, err)
	}
}
