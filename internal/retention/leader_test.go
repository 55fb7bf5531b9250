package retention

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/pgstore"
	"github.com/tidemark-mail/tidemark/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestOnlyTheLeaderPrunes: two processes on one PostgreSQL store run the
// retention loop; only the one holding the role passes, and when it stops
// the other takes over.
func TestOnlyTheLeaderPrunes(t *testing.T) {
	dsn := pgtest.DSN(t)
	open := func() *pgstore.Store {
		s, err := pgstore.Open(context.Background(), dsn, pgstore.Options{NoListen: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
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
