package sqlitestore

import (
	"errors"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestClaimRecent: the floor starts at 1, a claim returns the old floor
// and raises it once, takes no modseq, and new messages (append, copy)
// are unclaimed again; the floor survives reopening.
func TestClaimRecent(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	a, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	inbox := mustMailbox(t, a, "INBOX")
	count := func(want uint32) {
		t.Helper()
		if n, err := a.RecentCount(ctx, inbox.ID); err != nil || n != want {
			t.Fatalf("RecentCount = %d, %v; want %d", n, err, want)
		}
	}
	claim := func(upTo, want store.UID) {
		t.Helper()
		if prev, err := a.ClaimRecent(ctx, inbox.ID, upTo); err != nil || prev != want {
			t.Fatalf("ClaimRecent(%d) = %d, %v; want %d", upTo, prev, err, want)
		}
	}
	count(0)
	appendN(t, a, inbox.ID, 3, store.Flags{})
	count(3)
	before := mustMailbox(t, a, "INBOX").HighestModSeq
	claim(0, 1) // reading changes nothing
	count(3)
	claim(4, 1) // UIDs 1-3 are this caller's
	claim(4, 4) // and nobody else's
	claim(2, 4) // a lower claim never lowers the floor
	count(0)
	if hm := mustMailbox(t, a, "INBOX").HighestModSeq; hm != before {
		t.Fatalf("claim moved HIGHESTMODSEQ %d -> %d", before, hm)
	}
	appendN(t, a, inbox.ID, 2, store.Flags{})
	other, err := a.CreateMailbox(ctx, "Other", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Copy(ctx, inbox.ID, other.ID, store.UIDSetOf(1, 2)); err != nil {
		t.Fatal(err)
	}
	count(2)
	if n, err := a.RecentCount(ctx, other.ID); err != nil || n != 2 {
		t.Fatalf("copies: RecentCount = %d, %v; want 2", n, err)
	}
	if _, err := a.ClaimRecent(ctx, 9999, 5); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("missing mailbox: %v", err)
	}
	a.Close()
	s.Close()

	s = openStore(t, dir, Options{})
	if a, err = s.openAccount(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	count(2)
	claim(6, 4)
	count(0)
	// Renaming INBOX moves its messages with their UIDs and \Recent state.
	claim(0, 6)
	appendN(t, a, inbox.ID, 2, store.Flags{}) // UIDs 6, 7
	if err := a.RenameMailbox(ctx, "INBOX", "Old"); err != nil {
		t.Fatal(err)
	}
	old := mustMailbox(t, a, "Old")
	if n, err := a.RecentCount(ctx, old.ID); err != nil || n != 2 {
		t.Fatalf("after RENAME INBOX: RecentCount = %d, %v; want 2", n, err)
	}
	count(0)
	claim(8, 6) // INBOX keeps its floor, and is empty now
	// A claim past UIDNEXT stops there: later messages stay unclaimed.
	claim(1000, 8)
	claim(0, 8)
	appendN(t, a, inbox.ID, 1, store.Flags{})
	count(1)
	assertClean(t, s, "alice")
}

// TestMigrateV3Recent: upgrading a version 3 database makes the messages
// already there not recent, and new ones recent.
func TestMigrateV3Recent(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	a := aliceAccount(t, s)
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 3, store.Flags{})
	a.Close()
	s.Close()
	downgradeAlice(t, dir, append(undoV6, `ALTER TABLE mailboxes DROP COLUMN recent_uid`, `PRAGMA user_version = 3`)...)

	s = openStore(t, dir, Options{})
	a, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if n, err := a.RecentCount(ctx, inbox.ID); err != nil || n != 0 {
		t.Fatalf("after upgrade: RecentCount = %d, %v; want 0", n, err)
	}
	appendN(t, a, inbox.ID, 1, store.Flags{})
	if prev, err := a.ClaimRecent(ctx, inbox.ID, 5); err != nil || prev != 4 {
		t.Fatalf("ClaimRecent = %d, %v; want 4", prev, err)
	}
	assertClean(t, s, "alice")
}

// BenchmarkClaimRecent measures a claim that raises the floor (one write
// transaction, no modseq) and one that finds nothing new (one read), the
// two costs a SELECT or a sync point pays for \Recent.
func BenchmarkClaimRecent(b *testing.B) {
	_, a, inbox := benchAccount(b)
	appendN(b, a, inbox.ID, 100, store.Flags{})
	b.Run("raise", func(b *testing.B) {
		// One more message per claim, so that each claim raises the floor.
		first := appendN(b, a, inbox.ID, b.N, store.Flags{}).UIDs[0]
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := a.ClaimRecent(ctx, inbox.ID, first+store.UID(i)+1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("nothing-new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.ClaimRecent(ctx, inbox.ID, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("count", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.RecentCount(ctx, inbox.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}
