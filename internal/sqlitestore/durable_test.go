package sqlitestore

import (
	"context"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestDeferredSync follows the WAL syncs around writes whose callers
// deferred them: five deferred flag changes commit without a sync; a
// reader without the mark makes them durable before it returns (it could
// pass on what it saw); MakeDurable syncs three more once, and a second
// call has nothing to do; a write without the mark returns synced.
func TestDeferredSync(t *testing.T) {
	s, a := newAccount(t)
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 8, store.Flags{})
	u := a.u
	if u.synced.Load() != u.started.Load() {
		t.Fatalf("after plain appends: synced %d of %d commits", u.synced.Load(), u.started.Load())
	}
	dctx := store.DeferSync(ctx)
	setSeen := func(c context.Context, uid store.UID) {
		t.Helper()
		if _, err := a.SetFlags(c, inbox.ID, store.UIDSetOf(uid), store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0); err != nil {
			t.Fatal(err)
		}
	}
	syncs := u.syncs.Load()
	for uid := store.UID(1); uid <= 5; uid++ {
		setSeen(dctx, uid)
	}
	if got := u.syncs.Load() - syncs; got != 0 {
		t.Fatalf("%d syncs for deferred writes, want 0", got)
	}
	if u.synced.Load() >= u.started.Load() || s.dirty.n.Load() != 1 {
		t.Fatalf("deferred writes: synced %d, started %d, %d users unsynced", u.synced.Load(), u.started.Load(), s.dirty.n.Load())
	}
	// A reader under the mark may see them unsynced.
	if _, err := a.Snapshot(dctx, inbox.ID); err != nil {
		t.Fatal(err)
	}
	if got := u.syncs.Load() - syncs; got != 0 {
		t.Fatalf("a deferring reader synced %d times", got)
	}
	snap, err := a.Snapshot(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Messages[4].Flags.System&store.FlagSeen == 0 {
		t.Fatalf("snapshot misses a deferred write: %+v", snap.Messages[4])
	}
	if got := u.syncs.Load() - syncs; got != 1 || u.synced.Load() != u.started.Load() {
		t.Fatalf("plain reader: %d syncs, synced %d of %d", got, u.synced.Load(), u.started.Load())
	}

	for uid := store.UID(6); uid <= 8; uid++ {
		setSeen(dctx, uid)
	}
	syncs = u.syncs.Load()
	if err := s.MakeDurable(ctx); err != nil {
		t.Fatal(err)
	}
	if got := u.syncs.Load() - syncs; got != 1 || u.synced.Load() != u.started.Load() || s.dirty.n.Load() != 0 {
		t.Fatalf("MakeDurable: %d syncs, synced %d of %d, %d users unsynced", got, u.synced.Load(), u.started.Load(), s.dirty.n.Load())
	}
	if err := s.MakeDurable(ctx); err != nil || u.syncs.Load()-syncs != 1 {
		t.Fatalf("MakeDurable with nothing unsynced: %v, %d syncs", err, u.syncs.Load()-syncs)
	}

	if _, err := a.SetFlags(ctx, inbox.ID, store.UIDSetOf(1), store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0); err != nil {
		t.Fatal(err)
	}
	if u.synced.Load() != u.started.Load() || u.syncs.Load()-syncs != 2 {
		t.Fatalf("plain write: synced %d of %d after %d syncs", u.synced.Load(), u.started.Load(), u.syncs.Load()-syncs)
	}
}

// TestSyncPatience: MakeDurable under store.WithSyncPatience leaves
// another caller's deferred commits to that caller's own sync, and
// returns once it has synced them, without a sync of its own; with
// nobody else syncing it syncs them itself when its patience runs out.
// Either way nothing is left unsynced when it returns.
func TestSyncPatience(t *testing.T) {
	s, a := newAccount(t)
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 2, store.Flags{})
	u := a.u
	dctx := store.DeferSync(ctx)
	setSeen := func(uid store.UID) {
		t.Helper()
		if _, err := a.SetFlags(dctx, inbox.ID, store.UIDSetOf(uid), store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0); err != nil {
			t.Fatal(err)
		}
	}

	// The writer syncs: the patient caller waits for that sync.
	setSeen(1)
	syncs := u.syncs.Load()
	patient := make(chan error, 1)
	go func() { patient <- s.MakeDurable(store.WithSyncPatience(dctx, time.Hour)) }()
	select {
	case err := <-patient:
		t.Fatalf("patient MakeDurable returned before any sync: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if got := u.syncs.Load() - syncs; got != 0 {
		t.Fatalf("patient MakeDurable synced %d times itself", got)
	}
	if err := s.MakeDurable(dctx); err != nil {
		t.Fatal(err)
	}
	if err := <-patient; err != nil {
		t.Fatal(err)
	}
	if got := u.syncs.Load() - syncs; got != 1 || u.synced.Load() != u.started.Load() {
		t.Fatalf("%d syncs, synced %d of %d commits; want one sync covering all", got, u.synced.Load(), u.started.Load())
	}

	// Nobody else syncs: the patient caller does, once its patience is out.
	setSeen(2)
	syncs = u.syncs.Load()
	if err := s.MakeDurable(store.WithSyncPatience(dctx, 10*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if got := u.syncs.Load() - syncs; got != 1 || u.synced.Load() != u.started.Load() {
		t.Fatalf("%d syncs, synced %d of %d commits; want one sync of its own", got, u.synced.Load(), u.started.Load())
	}
}
