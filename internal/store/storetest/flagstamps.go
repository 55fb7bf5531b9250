package storetest

import (
	"maps"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// testFlagStamps: flag stamps (store.FlagStamps). Before a mailbox is
// synced a client's change stamps nothing; after, each flag it changes
// takes its modseq, the others keep theirs; a peer's flags and appends
// take exactly the stamps given (none: all dropped); an unchanged message
// keeps its stamps; an expunged message's stamps go with it.
func testFlagStamps(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	inbox := MustMailbox(t, a, "INBOX")
	AppendN(t, a, inbox.ID, 3, store.Flags{System: store.FlagAnswered})
	stamps := func() map[store.UID]store.FlagStamps {
		t.Helper()
		rd, err := r.ReadRound(ctx, inbox.ID, 0, store.UIDSetOf(1, 2, 3, 4, 5, 6))
		if err != nil {
			t.Fatal(err)
		}
		return rd.Stamps
	}
	set := func(uids store.UIDSet, op store.FlagOp, f store.Flags) store.ModSeq {
		t.Helper()
		res, err := a.SetFlags(ctx, inbox.ID, uids, op, f, 0)
		if err != nil {
			t.Fatal(err)
		}
		return res.ModSeq
	}
	set(store.UIDSetOf(1), store.FlagsAdd, store.Flags{System: store.FlagSeen})
	if st := stamps(); len(st) != 0 {
		t.Fatalf("stamps before any sync: %v", st)
	}
	if _, err := r.Apply(ctx, inbox.ID, store.Batch{KeepHistory: true}); err != nil {
		t.Fatal(err)
	}
	ms1 := set(store.UIDSetOf(1, 2), store.FlagsAdd, store.Flags{System: store.FlagFlagged, Keywords: []string{"Work"}})
	ms2 := set(store.UIDSetOf(1), store.FlagsReplace, store.Flags{System: store.FlagFlagged | store.FlagSeen, Keywords: []string{"WORK", "todo"}})
	set(store.UIDSetOf(2), store.FlagsAdd, store.Flags{System: store.FlagFlagged}) // already so
	want := map[store.UID]store.FlagStamps{
		// \Seen stayed, "work" only changed case: neither changed.
		1: {`\flagged`: ms1, "work": ms1, `\answered`: ms2, "todo": ms2},
		2: {`\flagged`: ms1, "work": ms1},
	}
	if got := stamps(); !stampsEqual(got, want) {
		t.Fatalf("after client changes: %v, want %v", got, want)
	}

	// A peer's changes: flags with stamps, flags without (an earlier
	// version), an append with stamps, flags already so.
	peer := ms2 + 10
	_, err := r.Apply(ctx, inbox.ID, store.Batch{
		Flags: []store.MessageState{
			{UID: 1, ModSeq: peer, Flags: store.Flags{System: store.FlagSeen}},
			{UID: 2, ModSeq: peer, Flags: store.Flags{Keywords: []string{"Work"}}},
			{UID: 3, ModSeq: peer, Flags: store.Flags{System: store.FlagAnswered}},
		},
		Append: []store.ReplicaMessage{replicaMessage(4, peer, MessageText(4, ""), store.Flags{Keywords: []string{"x"}})},
		Stamps: map[store.UID]store.FlagStamps{
			1: {`\flagged`: peer - 1, "work": 3, "todo": peer},
			3: {`\answered`: 99},
			4: {"x": 5},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want = map[store.UID]store.FlagStamps{
		1: {`\flagged`: peer - 1, "work": 3, "todo": peer},
		4: {"x": 5},
	}
	if got := stamps(); !stampsEqual(got, want) {
		t.Fatalf("after a peer's changes: %v, want %v", got, want)
	}

	// Expunged: its stamps go; a later message at a new UID has none.
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSetOf(1)); err != nil {
		t.Fatal(err)
	}
	delete(want, 1)
	if got := stamps(); !stampsEqual(got, want) {
		t.Fatalf("after expunge: %v, want %v", got, want)
	}
}

func stampsEqual(a, b map[store.UID]store.FlagStamps) bool {
	return maps.EqualFunc(a, b, func(x, y store.FlagStamps) bool { return maps.Equal(x, y) })
}
