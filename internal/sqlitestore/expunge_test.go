package sqlitestore

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// tombstoneRows counts a mailbox's tombstone rows.
func tombstoneRows(t testing.TB, a *Account, id store.MailboxID) int {
	t.Helper()
	var n int
	if err := a.u.r.QueryRowContext(ctx, `SELECT count(*) FROM tombstones WHERE mailbox_id = ?`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTombstonesCompactAcrossExpunges: expunging messages one at a time,
// each in its own transaction, leaves one tombstone row per run of
// expunged UIDs, not one per expunge, whatever the order; the merged rows
// still report every expunge since any modseq. TIDEMARK_TOMBSTONE_EXPUNGES
// sets how many (1,000 by default; the figure in docs/benchmarks.md is for
// 100,000), TIDEMARK_TOMBSTONE_SEED the order of the second half.
func TestTombstonesCompactAcrossExpunges(t *testing.T) {
	n := envInt("TIDEMARK_TOMBSTONE_EXPUNGES", 1000)
	seed := uint64(envInt("TIDEMARK_TOMBSTONE_SEED", 1))
	t.Logf("%d expunges, seed %d (TIDEMARK_TOMBSTONE_EXPUNGES, TIDEMARK_TOMBSTONE_SEED)", n, seed)
	s, a := newAccount(t)
	inbox := mustMailbox(t, a, "INBOX")
	for done := 0; done < n; done += 5000 {
		appendN(t, a, inbox.ID, min(5000, n-done), store.Flags{})
	}
	start := mustMailbox(t, a, "INBOX").HighestModSeq
	half := store.UID(n / 2)
	// The first half in ascending order: always one run.
	for u := store.UID(1); u <= half; u++ {
		if _, err := a.Expunge(ctx, inbox.ID, store.UIDSetOf(u)); err != nil {
			t.Fatal(err)
		}
	}
	if rows := tombstoneRows(t, a, inbox.ID); rows != 1 {
		t.Fatalf("%d rows after %d expunges of consecutive UIDs, want 1", rows, half)
	}
	mid := mustMailbox(t, a, "INBOX").HighestModSeq
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
			if rows := tombstoneRows(t, a, inbox.ID); rows != len(gone) {
				t.Fatalf("after %d random expunges: %d rows for %d runs (%s)", i+1, rows, len(gone), gone)
			}
		}
	}
	rows := tombstoneRows(t, a, inbox.ID)
	t.Logf("%d single-message expunges leave %d tombstone row(s)", n, rows)
	if rows != 1 {
		t.Fatalf("%d rows after expunging every message", rows)
	}
	for _, since := range []store.ModSeq{start, mid} {
		ch, err := a.ChangesSince(ctx, inbox.ID, since)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("1:%d", n); !ch.Exact || ch.Vanished.String() != want {
			t.Fatalf("changes since %d: exact %v vanished %s, want %s", since, ch.Exact, ch.Vanished, want)
		}
	}
	assertClean(t, s, "alice")
}
