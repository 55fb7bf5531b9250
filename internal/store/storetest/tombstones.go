package storetest

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// testTombstonesCompact: expunging messages one at a time, each in its
// own transaction, leaves one tombstone row per run of expunged UIDs, not
// one per expunge, whatever the order (the merge rule of
// storetx.AddTombstones); the merged rows still report every expunge
// since any modseq. TIDEMARK_TOMBSTONE_EXPUNGES sets how many (400 by
// default; docs/benchmarks.md has a figure for 100,000),
// TIDEMARK_TOMBSTONE_SEED the order of the second half. The rows are
// counted only on a backend that says how (Backend.TombstoneRows).
func testTombstonesCompact(t *testing.T, be Backend) {
	n := envInt("TIDEMARK_TOMBSTONE_EXPUNGES", 400)
	seed := uint64(envInt("TIDEMARK_TOMBSTONE_SEED", 1))
	t.Logf("%d expunges, seed %d (TIDEMARK_TOMBSTONE_EXPUNGES, TIDEMARK_TOMBSTONE_SEED)", n, seed)
	s, a := be.newAccount(t)
	inbox := MustMailbox(t, a, "INBOX")
	rowsAre := func(want int, what string) {
		t.Helper()
		if be.TombstoneRows == nil {
			return
		}
		if rows := be.TombstoneRows(t, a, inbox.ID); rows != want {
			t.Fatalf("%s: %d tombstone rows, want %d", what, rows, want)
		}
	}
	for done := 0; done < n; done += 5000 {
		AppendN(t, a, inbox.ID, min(5000, n-done), store.Flags{})
	}
	start := MustMailbox(t, a, "INBOX").HighestModSeq
	half := store.UID(n / 2)
	// The first half in ascending order: always one run.
	for u := store.UID(1); u <= half; u++ {
		if _, err := a.Expunge(ctx, inbox.ID, store.UIDSetOf(u)); err != nil {
			t.Fatal(err)
		}
	}
	rowsAre(1, fmt.Sprintf("after %d expunges of consecutive UIDs", half))
	mid := MustMailbox(t, a, "INBOX").HighestModSeq
	// The second half in a random order: as many rows as runs.
	rest := make([]store.UID, 0, n-int(half))
	for u := half + 1; u <= store.UID(n); u++ {
		rest = append(rest, u)
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	gone := store.UIDSet{{Start: 1, Stop: half}}
	for i, u := range rest {
		if _, err := a.Expunge(ctx, inbox.ID, store.UIDSetOf(u)); err != nil {
			t.Fatal(err)
		}
		gone.Add(u)
		if i%97 == 0 || i == len(rest)-1 {
			rowsAre(len(gone), fmt.Sprintf("after %d random expunges (runs %s)", i+1, gone))
		}
	}
	rowsAre(1, "after expunging every message")
	for _, since := range []store.ModSeq{start, mid} {
		ch, err := a.ChangesSince(ctx, inbox.ID, since)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("1:%d", n); !ch.Exact || ch.Vanished.String() != want {
			t.Fatalf("changes since %d: exact %v vanished %s, want %s", since, ch.Exact, ch.Vanished, want)
		}
	}
	AssertClean(t, s, "alice")
}
