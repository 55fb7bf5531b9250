package sqlitestore

import (
	"math/rand/v2"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// textDrops counts the contents whose index rows wait for deletion.
func textDrops(t *testing.T, a *Account) int {
	t.Helper()
	var n int
	if err := a.u.r.QueryRowContext(ctx, `SELECT count(*) FROM meta WHERE key > ? AND key < ?`, textDropKey, textDropEnd).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTextDropsBehind: with the index written behind, a small expunge
// leaves its index rows to a later transaction; searches stay exact
// meanwhile, the indexer's next batch deletes them, and so does the
// expunge that brings the waiting ones to textDropMax.
func TestTextDropsBehind(t *testing.T) {
	defer func(m int) { textDropMax = m }(textDropMax)
	textDropMax = 6
	r := rand.New(rand.NewPCG(textSeed(t), 17))
	s := openStore(t, t.TempDir(), Options{InlineBodyMax: 1500, TextIndexBehind: true})
	a := aliceAccount(t, s)
	inbox := mustMailbox(t, a, "INBOX")
	appendRandom(t, r, a, inbox.ID, 30)
	waitIndexed(t, a)
	assertIndexRows(t, s, a)

	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 2, Stop: 3}, {Start: 9, Stop: 9}}); err != nil {
		t.Fatal(err)
	}
	if n := textDrops(t, a); n != 3 {
		t.Fatalf("%d contents waiting, want 3", n)
	}
	compareSearches(t, r, a, inbox.ID, 60, "index rows of expunged messages left behind")
	assertClean(t, s, "alice")

	// The indexer's next batch takes them.
	appendRandom(t, r, a, inbox.ID, 1)
	waitIndexed(t, a)
	if n := textDrops(t, a); n != 0 {
		t.Fatalf("%d contents waiting after the indexer's batch", n)
	}
	assertIndexRows(t, s, a)

	// Without appends, the expunge that reaches textDropMax deletes them
	// all.
	for i, u := range []store.UID{11, 12, 13, 14, 15, 16} {
		if _, err := a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: u, Stop: u}}); err != nil {
			t.Fatal(err)
		}
		if n, want := textDrops(t, a), (i+1)%textDropMax; n != want {
			t.Fatalf("after %d expunges: %d contents waiting, want %d", i+1, n, want)
		}
	}
	assertIndexRows(t, s, a)
	compareSearches(t, r, a, inbox.ID, 60, "after the waiting rows were deleted")

	// A large expunge deletes its own at once.
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 17, Stop: 31}}); err != nil {
		t.Fatal(err)
	}
	if n := textDrops(t, a); n != 0 {
		t.Fatalf("%d contents waiting after a large expunge", n)
	}
	assertIndexRows(t, s, a)
}
