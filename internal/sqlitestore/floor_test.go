package sqlitestore

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func withStep(t *testing.T, step uint64) {
	old := reservationStep
	reservationStep = step
	t.Cleanup(func() { reservationStep = old })
}

func withChunkMax(t *testing.T, n int) {
	old := chunkMax
	chunkMax = n
	t.Cleanup(func() { chunkMax = old })
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// bump makes n write transactions on INBOX and returns its state.
func bump(t *testing.T, s *Store, n int) store.MailboxInfo {
	t.Helper()
	a, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	inbox := mustMailbox(t, a, "INBOX")
	for i := 0; i < n; i++ {
		appendN(t, a, inbox.ID, 1, store.Flags{})
	}
	return mustMailbox(t, a, "INBOX")
}

func TestRestoredDatabaseStartsAboveFloor(t *testing.T) {
	withStep(t, 4)
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	s.CreateUser(ctx, "alice")
	before := bump(t, s, 3)
	s.Close() // checkpoints the WAL into meta.db
	db := filepath.Join(dir, "users", "alice", "meta.db")
	copyFile(t, db, db+".backup")

	s = openStore(t, dir, Options{})
	seen := bump(t, s, 10) // a client saw this
	s.Close()
	copyFile(t, db+".backup", db)

	s = openStore(t, dir, Options{})
	a, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	got := mustMailbox(t, a, "INBOX")
	if got.HighestModSeq <= seen.HighestModSeq {
		t.Fatalf("restored HIGHESTMODSEQ %d, a client saw %d", got.HighestModSeq, seen.HighestModSeq)
	}
	if got.UIDValidity == before.UIDValidity || got.UIDValidity <= seen.UIDValidity {
		t.Fatalf("restored UIDVALIDITY %d not fresh (was %d)", got.UIDValidity, seen.UIDValidity)
	}
	res := appendN(t, a, got.ID, 1, store.Flags{})
	if res.ModSeq <= seen.HighestModSeq {
		t.Fatalf("new modseq %d not above %d", res.ModSeq, seen.HighestModSeq)
	}
	assertClean(t, s, "alice")
}

func TestLostDatabaseRebuiltAboveFloor(t *testing.T) {
	withStep(t, 4)
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	s.CreateUser(ctx, "alice")
	seen := bump(t, s, 9)
	s.Close()
	os.Remove(filepath.Join(dir, "users", "alice", "meta.db"))

	s = openStore(t, dir, Options{})
	a, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	got := mustMailbox(t, a, "INBOX")
	if got.HighestModSeq <= seen.HighestModSeq || got.UIDValidity <= seen.UIDValidity {
		t.Fatalf("rebuilt INBOX %+v, client saw %+v", got, seen)
	}
	assertClean(t, s, "alice")
}

func TestReopenKeepsModseqsDense(t *testing.T) {
	withStep(t, 4)
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	s.CreateUser(ctx, "alice")
	first := bump(t, s, 6)
	s.Close()
	s = openStore(t, dir, Options{})
	second := bump(t, s, 1)
	if second.HighestModSeq != first.HighestModSeq+1 || second.UIDValidity != first.UIDValidity {
		t.Fatalf("clean reopen changed numbering: %+v then %+v", first, second)
	}
	// A crash after the manifest moved ahead but before the commit: the
	// database holds the previous reservation, which is not a restore.
	s.Close()
	man, _, err := readManifest(filepath.Join(dir, "users", "alice"))
	if err != nil {
		t.Fatal(err)
	}
	man.PrevFloor = man.ModSeqFloor
	man.ModSeqFloor += 100
	writeManifest(filepath.Join(dir, "users", "alice"), man)
	s = openStore(t, dir, Options{})
	third := bump(t, s, 1)
	if third.HighestModSeq != second.HighestModSeq+1 || third.UIDValidity != first.UIDValidity {
		t.Fatalf("reservation crash treated as restore: %+v then %+v", second, third)
	}
	assertClean(t, s, "alice")
}

func TestLostManifest(t *testing.T) {
	withStep(t, 4)
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	s.CreateUser(ctx, "alice")
	seen := bump(t, s, 5)
	s.Close()
	os.Remove(filepath.Join(dir, "users", "alice", manifestName))
	s = openStore(t, dir, Options{})
	got := bump(t, s, 1)
	if got.HighestModSeq <= seen.HighestModSeq {
		t.Fatalf("modseq went back: %d after %d", got.HighestModSeq, seen.HighestModSeq)
	}
	a, _ := s.openAccount(ctx, "alice")
	defer a.Close()
	n, _ := a.CreateMailbox(ctx, "new", store.CreateOptions{})
	if n.UIDValidity <= seen.UIDValidity {
		t.Fatalf("UIDVALIDITY %d repeats or precedes %d", n.UIDValidity, seen.UIDValidity)
	}
	assertClean(t, s, "alice")
}
