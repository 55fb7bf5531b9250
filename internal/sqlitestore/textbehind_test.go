package sqlitestore

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// backlog reads the background indexer's mark.
func backlog(t *testing.T, a *Account) (int64, bool) {
	t.Helper()
	after, pending, err := textPending(context.Background(), a.u.r)
	if err != nil {
		t.Fatal(err)
	}
	return after, pending
}

// holdIndexer keeps a's background indexer from starting a batch until
// the returned function is called.
func holdIndexer(a *Account) (release func()) {
	a.u.ix.hold <- struct{}{}
	return func() { <-a.u.ix.hold }
}

// waitIndexed waits for the background indexer to clear the backlog.
func waitIndexed(t *testing.T, a *Account) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, pending := backlog(t, a); !pending {
			return
		}
	}
	t.Fatal("the background indexer did not catch up")
}

// assertIndexRows checks that every contents row has its index rows and
// Check finds nothing wrong.
func assertIndexRows(t *testing.T, s *Store, a *Account) {
	t.Helper()
	var contents int
	if err := a.u.r.QueryRowContext(ctx, `SELECT count(*) FROM contents`).Scan(&contents); err != nil {
		t.Fatal(err)
	}
	for _, table := range textIndexTables {
		var rows int
		if err := a.u.r.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != contents {
			t.Fatalf("%d %s rows for %d contents", rows, table, contents)
		}
	}
	assertClean(t, s, "alice")
}

// TestTextIndexBehindMatchesScan: with the index written behind appends,
// every search equals the scan while the indexer lags (nothing indexed
// yet, part of it indexed, expunges and copies in the backlog, a rebuild
// under way), after the store is closed with a backlog and reopened (as
// after a crash: the indexer resumes from its mark), and once caught up
// the index alone answers.
func TestTextIndexBehindMatchesScan(t *testing.T) {
	r := rand.New(rand.NewPCG(textSeed(t), 11))
	n := envInt("TIDEMARK_TEXT_MESSAGES", 60)
	searches := envInt("TIDEMARK_TEXT_SEARCHES", 150)
	defer func(b int) { behindBatch = b }(behindBatch)
	behindBatch = 7 // several indexer transactions
	opts := Options{InlineBodyMax: 1500, TextIndexBehind: true}
	dir := t.TempDir()
	s := openStore(t, dir, opts)
	a := aliceAccount(t, s)
	inbox := mustMailbox(t, a, "INBOX")

	// Even a single message is left to the indexer.
	release := holdIndexer(a)
	appendRandom(t, r, a, inbox.ID, 1)
	if after, pending := backlog(t, a); !pending || after != 0 {
		t.Fatalf("backlog mark %d (present %v) after a single append, want 0", after, pending)
	}
	release()
	waitIndexed(t, a)
	release = holdIndexer(a)
	for range 3 {
		appendRandom(t, r, a, inbox.ID, n/3)
	}
	appendRandom(t, r, a, inbox.ID, 1) // behind the backlog
	if after, pending := backlog(t, a); !pending || after != 1 {
		t.Fatalf("backlog mark %d (present %v), want 1", after, pending)
	}
	compareSearchesAs(t, r, a, inbox.ID, searches, "nothing indexed", true)

	// Part of the backlog indexed; copies and expunges on both sides of
	// the mark.
	for range 2 {
		if _, _, err := a.u.indexBehind(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if after, pending := backlog(t, a); !pending || after <= 1 {
		t.Fatalf("after two indexer steps: mark %d (present %v)", after, pending)
	}
	compareSearchesAs(t, r, a, inbox.ID, searches, "part indexed", true)
	if _, err := a.CreateMailbox(ctx, "Other", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	other := mustMailbox(t, a, "Other")
	if _, err := a.Copy(ctx, inbox.ID, other.ID, store.UIDSet{{Start: 1, Stop: 30}}); err != nil {
		t.Fatal(err)
	}
	var gone store.UIDSet
	for u := store.UID(1); u <= store.UID(n); u++ {
		if r.IntN(2) == 0 {
			gone.Add(u)
		}
	}
	if _, err := a.Expunge(ctx, inbox.ID, gone); err != nil {
		t.Fatal(err)
	}
	appendRandom(t, r, a, inbox.ID, n/3)
	compareSearchesAs(t, r, a, inbox.ID, searches, "part indexed, after expunge and append", true)
	compareSearchesAs(t, r, a, other.ID, searches/3, "copies, part indexed", true)
	if ps, err := s.Check(ctx, "alice"); err != nil || len(ps) > 0 {
		t.Fatalf("check with a backlog: %v %v", ps, err)
	}

	// Closed with the backlog (the indexer's transactions are the only
	// record of its progress): reopened, it resumes and catches up.
	release()
	a.Close()
	s.Close()
	s = openStore(t, dir, opts)
	a, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	waitIndexed(t, a)
	compareSearches(t, r, a, inbox.ID, searches, "caught up after reopening")
	compareSearches(t, r, a, other.ID, searches/3, "copies caught up")
	assertIndexRows(t, s, a)

	// A rebuild while a backlog waits takes the part below its start; the
	// indexer the rest.
	release = holdIndexer(a)
	appendRandom(t, r, a, inbox.ID, n/3)
	if _, pending := backlog(t, a); !pending {
		t.Fatal("no backlog")
	}
	if err := s.Reindex(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, pending := backlog(t, a); pending {
		t.Fatal("the rebuild left a backlog below its start")
	}
	appendRandom(t, r, a, inbox.ID, n/3)
	compareSearchesAs(t, r, a, inbox.ID, searches, "rebuilt, new backlog", true)
	release()
	waitIndexed(t, a)
	compareSearches(t, r, a, inbox.ID, searches, "rebuilt, caught up")
	assertIndexRows(t, s, a)
}

// TestTextIndexBehindKeepsOpen: a database whose indexer has a backlog
// stays open past KeepIdle after its last handle closed, and closes once
// the backlog is indexed.
func TestTextIndexBehindKeepsOpen(t *testing.T) {
	r := rand.New(rand.NewPCG(textSeed(t), 13))
	s := openStore(t, t.TempDir(), Options{TextIndexBehind: true, KeepIdle: 10 * time.Millisecond})
	a := aliceAccount(t, s)
	inbox := mustMailbox(t, a, "INBOX")
	release := holdIndexer(a)
	appendRandom(t, r, a, inbox.ID, 20)
	a.Close()
	open := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		_, ok := s.users["alice"]
		return ok
	}
	time.Sleep(100 * time.Millisecond) // ten times KeepIdle
	if !open() {
		t.Fatal("closed with a backlog to index")
	}
	release()
	for deadline := time.Now().Add(2 * time.Minute); open(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("still open after the backlog was indexed")
		}
	}
	a, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, pending := backlog(t, a); pending {
		t.Fatal("closed before the backlog was indexed")
	}
	assertIndexRows(t, s, a)
}

// TestIndexerOvertakesEndlessAppends: while a client appends without a
// pause, the indexer gives way only up to behindMax contents behind; past
// that it indexes, instead of waiting for the appends to end.
func TestIndexerOvertakesEndlessAppends(t *testing.T) {
	defer func(m int64) { behindMax = m }(behindMax)
	behindMax = 5
	r := rand.New(rand.NewPCG(textSeed(t), 12))
	s := openStore(t, t.TempDir(), Options{InlineBodyMax: 1500, TextIndexBehind: true})
	a := aliceAccount(t, s)
	inbox := mustMailbox(t, a, "INBOX")
	release := holdIndexer(a)
	appendRandom(t, r, a, inbox.ID, 10)
	a.u.appendStarted() // an append that does not end while the test runs
	defer a.u.appendDone()
	release()
	waitIndexed(t, a)
}
