package sqlitestore

import (
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetest"
)

// TestSetFlagsManyRanges: a flag change over a UID set of many ranges
// (the messages left between scattered expunges, across several chunks)
// changes exactly those messages, each once, in one pass over the chunks.
func TestSetFlagsManyRanges(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	a := aliceAccount(t, s)
	inbox := mustMailbox(t, a, "INBOX")
	storetest.AppendN(t, a, inbox.ID, 1000, store.Flags{})
	var gone store.UIDSet
	for u := store.UID(3); u <= 1000; u += 3 {
		gone.Add(u)
	}
	if _, err := a.Expunge(ctx, inbox.ID, gone); err != nil {
		t.Fatal(err)
	}
	// Every message left, and one range of UIDs that never existed.
	var set store.UIDSet
	for u := store.UID(1); u <= 1000; u++ {
		if !gone.Contains(u) {
			set.Add(u)
		}
	}
	set.AddRange(2000, 2100)
	res, err := a.SetFlags(ctx, inbox.ID, set, store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != 667 || len(res.Unchanged) != 0 {
		t.Fatalf("%d changed, %d unchanged, want 667 and 0", len(res.Changed), len(res.Unchanged))
	}
	for i, m := range res.Changed {
		if i > 0 && m.UID <= res.Changed[i-1].UID || gone.Contains(m.UID) || m.ModSeq != res.ModSeq {
			t.Fatalf("changed %+v", m)
		}
	}
	snap, err := a.Snapshot(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Messages) != 667 {
		t.Fatalf("%d messages", len(snap.Messages))
	}
	for _, m := range snap.Messages {
		if m.Flags.System&store.FlagFlagged == 0 {
			t.Fatalf("UID %d not flagged", m.UID)
		}
	}
	assertClean(t, s, "alice")
}

// TestUIDCursor: the cursor answers as Contains does, for UIDs asked in
// ascending order and also when the order goes back.
func TestUIDCursor(t *testing.T) {
	set := store.UIDSet{{Start: 2, Stop: 4}, {Start: 7, Stop: 7}, {Start: 10, Stop: 20}}
	for _, order := range [][]store.UID{
		{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20, 21, 30},
		{7, 3, 20, 1, 10, 9, 2},
	} {
		c := uidCursor{set: set}
		for _, u := range order {
			if got, want := c.contains(u), set.Contains(u); got != want {
				t.Fatalf("order %v: contains(%d) = %v, want %v", order, u, got, want)
			}
		}
	}
}
