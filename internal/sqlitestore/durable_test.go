package sqlitestore

import (
	"context"
	"testing"

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
