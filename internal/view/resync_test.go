package view

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

func seqSet(rs ...[2]uint32) wire.SeqSet {
	var s wire.SeqSet
	for _, r := range rs {
		s.Ranges = append(s.Ranges, wire.SeqRange{Start: r[0], Stop: r[1]})
	}
	return s
}

// uidSet builds a set from start, stop pairs.
func uidSet(bounds ...store.UID) store.UIDSet {
	var s store.UIDSet
	for i := 0; i+1 < len(bounds); i += 2 {
		s.AddRange(bounds[i], bounds[i+1])
	}
	return s
}

func viewOf(uidNext store.UID, uids ...store.UID) *View {
	return NewFromUIDs(store.MailboxInfo{ID: 1, UIDNext: uidNext, HighestModSeq: 50}, uids, nil, false)
}

func TestNewSeqMatchPairsRuns(t *testing.T) {
	m, err := NewSeqMatch(seqSet([2]uint32{1, 3}, [2]uint32{10, 11}), seqSet([2]uint32{5, 6}, [2]uint32{20, 22}))
	if err != nil {
		t.Fatal(err)
	}
	want := []matchRun{{1, 5, 2}, {3, 20, 1}, {10, 21, 2}}
	if !slices.Equal(m.runs, want) {
		t.Fatalf("runs %v, want %v", m.runs, want)
	}
	for _, bad := range [][2]wire.SeqSet{
		{seqSet([2]uint32{1, 3}), seqSet([2]uint32{1, 2})},                  // sizes differ
		{seqSet([2]uint32{1, wire.Star}), seqSet([2]uint32{1, 2})},          // star
		{seqSet([2]uint32{5, 5}, [2]uint32{2, 2}), seqSet([2]uint32{1, 2})}, // not ascending
	} {
		if _, err := NewSeqMatch(bad[0], bad[1]); err == nil {
			t.Errorf("accepted %v %v", bad[0], bad[1])
		}
	}
	// A huge run costs one entry.
	m, err = NewSeqMatch(seqSet([2]uint32{1, 4_000_000_000}), seqSet([2]uint32{7, 4_000_000_006}))
	if err != nil || len(m.runs) != 1 {
		t.Fatalf("huge run: %v %v", m, err)
	}
}

// TestEarlierVanishedRFCExample follows RFC 7162 3.2.5.2: pair (4, 8)
// matches, pair (12, 24) does not (the 12th message now has UID 25), so
// nothing at or below 8 is reported.
func TestEarlierVanishedRFCExample(t *testing.T) {
	// The client knew UIDs 1..8 as 1,2,5,8 at seqs 1..4 and 9..24 as 8
	// more messages (seq 5..12). Since then 10 and 24 vanished, and 25, 26
	// were added.
	v := viewOf(27, 1, 2, 5, 8, 9, 11, 12, 13, 14, 15, 16, 25, 26)
	m, err := NewSeqMatch(seqSet([2]uint32{4, 4}, [2]uint32{12, 12}), seqSet([2]uint32{8, 8}, [2]uint32{24, 24}))
	if err != nil {
		t.Fatal(err)
	}
	missing := uidSet(3, 4, 6, 7, 10, 10, 17, 24)
	ch := store.Changes{Vanished: missing, Exact: false}
	got := v.EarlierVanished(ch, nil, m)
	if got.String() != "10,17:24" {
		t.Fatalf("VANISHED (EARLIER) %s, want 10,17:24", got)
	}
	// Without match data, every missing UID goes out.
	if got := v.EarlierVanished(ch, nil, nil); got.String() != missing.String() {
		t.Fatalf("no match data: %s", got)
	}
	// known-uids narrows further.
	if got := v.EarlierVanished(ch, uidSet(1, 20), m); got.String() != "10,17:20" {
		t.Fatalf("with known-uids: %s", got)
	}
	// With exact history the match data is not used.
	ch.Exact, ch.Vanished = true, store.UIDSetOf(10, 24)
	if got := v.EarlierVanished(ch, nil, m); got.String() != "10,24" {
		t.Fatalf("exact: %s", got)
	}
}

// TestEarlierVanishedNeverNamesShownOrFutureUIDs: UIDs the view still shows
// (expunged after its modseq) and UIDs at or above its UIDNEXT are left out.
func TestEarlierVanishedNeverNamesShownOrFutureUIDs(t *testing.T) {
	v := viewOf(10, 2, 4, 6)
	ch := store.Changes{Vanished: uidSet(1, 12), Exact: true}
	if got := v.EarlierVanished(ch, nil, nil); got.String() != "1,3,5,7:9" {
		t.Fatalf("got %s", got)
	}
	empty := viewOf(1)
	if got := empty.EarlierVanished(ch, nil, nil); !got.Empty() {
		t.Fatalf("never-used mailbox: %s", got)
	}
}

// TestUncertainIsCorrectAndSmall checks the seq-match narrowing against
// brute force on random histories: it must never drop a UID the client was
// not told of (correct), and must drop every UID in a range where the client
// provably knows everything (smallest). The client's known-uids is often
// larger than its cache (every UID, as RFC 7162 3.2.5.1 allows, or the cache
// plus UIDs expunged before its state), so only the match data can remove
// those extra UIDs: an implementation that ignored it would fail.
func TestUncertainIsCorrectAndSmall(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	narrowed := 0
	for iter := 0; iter < 2000; iter++ {
		// The server's history: n UIDs, some expunged before the client's
		// state (the client knows), some after (it does not).
		n := 1 + rng.IntN(60)
		var client, now []store.UID
		var unknownGone store.UIDSet
		var allMissing store.UIDSet
		var knownGone []store.UID
		for u := store.UID(1); u <= store.UID(n); u++ {
			switch rng.IntN(5) {
			case 0: // expunged before the client looked
				allMissing.Add(u)
				knownGone = append(knownGone, u)
			case 1: // expunged after
				client = append(client, u)
				unknownGone.Add(u)
				allMissing.Add(u)
			default:
				client = append(client, u)
				now = append(now, u)
			}
		}
		if len(client) == 0 {
			continue
		}
		// A random sample of the client's (seq, uid) pairs.
		type pair struct {
			seq uint32
			uid store.UID
		}
		var pairs []pair
		var seqs, uids wire.SeqSet
		for i, u := range client {
			if rng.IntN(3) == 0 {
				pairs = append(pairs, pair{uint32(i + 1), u})
				seqs.Ranges = append(seqs.Ranges, wire.SeqRange{Start: uint32(i + 1), Stop: uint32(i + 1)})
				uids.Ranges = append(uids.Ranges, wire.SeqRange{Start: uint32(u), Stop: uint32(u)})
			}
		}
		v := viewOf(store.UID(n+1), now...)
		ch := store.Changes{Vanished: allMissing}
		var m *SeqMatch
		if len(seqs.Ranges) > 0 {
			var err error
			if m, err = NewSeqMatch(seqs, uids); err != nil {
				t.Fatal(err)
			}
		}
		// known-uids: the exact cache, every UID (nil), or the cache plus
		// some of the UIDs expunged before the client's state.
		var knownSet store.UIDSet
		switch rng.IntN(3) {
		case 0:
			knownSet = store.UIDSetOf(client...)
		case 1:
			knownSet = nil
		case 2:
			knownSet = store.UIDSetOf(client...)
			for _, u := range knownGone {
				if rng.IntN(2) == 0 {
					knownSet.Add(u)
				}
			}
		}
		knows := func(u store.UID) bool { return knownSet == nil || knownSet.Contains(u) }
		got := v.EarlierVanished(ch, knownSet, m)
		// Correct: everything the client was not told of is there.
		for _, u := range unknownGone.UIDs() {
			if !got.Contains(u) {
				t.Fatalf("iter %d: UID %d vanished unseen but not reported (got %s)", iter, u, got)
			}
		}
		// Smallest, by brute force over every pair of neighbouring match
		// pairs: a missing known UID in (u1, u2] may be left out exactly
		// when the mailbox still holds s2-s1 messages there; above the
		// last pair nothing is proven.
		var want store.UIDSet
		prev := pair{}
		count := func(lo, hi store.UID) uint32 {
			c := uint32(0)
			for _, u := range now {
				if u > lo && u <= hi {
					c++
				}
			}
			return c
		}
		for _, p := range append(pairs, pair{^uint32(0), store.MaxUID}) {
			proven := p.uid != store.MaxUID && count(prev.uid, p.uid) == p.seq-prev.seq
			for _, u := range allMissing.UIDs() {
				if u > prev.uid && u <= p.uid && knows(u) && !proven {
					want.Add(u)
				}
			}
			prev = p
		}
		if !slices.Equal(got.UIDs(), want.UIDs()) {
			t.Fatalf("iter %d: got %s, want %s (known %v, pairs %v, now %v)", iter, got, want, knownSet, pairs, now)
		}
		if all := Intersect(allMissing, store.UIDSet{{Start: 1, Stop: store.UID(n)}}); knownSet == nil && len(want.UIDs()) < len(all.UIDs()) {
			narrowed++
		}
	}
	// The histories must exercise the narrowing, not only the known set.
	if narrowed < 100 {
		t.Fatalf("only %d histories where the match data removed a UID", narrowed)
	}
}

func TestIntersect(t *testing.T) {
	a := uidSet(1, 5, 10, 20)
	b := uidSet(3, 3, 4, 12, 20, 30)
	if got := Intersect(a, b); got.String() != "3:5,10:12,20" {
		t.Fatalf("got %s", got)
	}
	if got := Intersect(nil, b); !got.Empty() {
		t.Fatal(got)
	}
}

func TestSafeModSeqBelowHeldExpunges(t *testing.T) {
	v := New(snapshot(5, 2, 4, 6), false)
	if v.SafeModSeq() != 5 {
		t.Fatal(v.SafeModSeq())
	}
	// An expunge at 6 is held; a flag change at 7 goes out.
	v.Apply(store.Changes{Mailbox: store.MailboxInfo{HighestModSeq: 7}, Vanished: store.UIDSetOf(4),
		Changed: []store.MessageState{msg(6, 7)}}, SyncOptions{})
	if v.ShownModSeq() != 7 || v.SafeModSeq() != 5 || !v.Holding() {
		t.Fatalf("shown %d safe %d", v.ShownModSeq(), v.SafeModSeq())
	}
	// A second held expunge does not move the safe point.
	v.Apply(store.Changes{Mailbox: store.MailboxInfo{HighestModSeq: 8}, Vanished: store.UIDSetOf(6)}, SyncOptions{})
	if v.SafeModSeq() != 5 {
		t.Fatalf("safe %d after second hold", v.SafeModSeq())
	}
	v.Apply(store.Changes{Mailbox: store.MailboxInfo{HighestModSeq: 8}, Exact: true}, SyncOptions{AllowExpunge: true})
	if v.SafeModSeq() != 8 || v.Holding() {
		t.Fatalf("after release: safe %d", v.SafeModSeq())
	}
}
