package sqlitestore

import (
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// corrupt runs raw SQL on the user's meta.db through the writer.
func corrupt(t *testing.T, a *Account, q string, args ...any) {
	t.Helper()
	err := a.u.write(ctx, func(t *writeTx) error {
		_, err := t.tx.ExecContext(t.ctx, q, args...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// problemsMatching returns the problems whose text contains every word.
func problemsMatching(ps []Problem, words ...string) []Problem {
	var out []Problem
	for _, p := range ps {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(p.String(), w)
		}
		if ok {
			out = append(out, p)
		}
	}
	return out
}

func mustCheck(t *testing.T, s *Store) []Problem {
	t.Helper()
	ps, err := s.Check(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestRepairCounters(t *testing.T) {
	s, a := newAccount(t)
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 5, store.Flags{System: store.FlagSeen})
	a.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 2, Stop: 3}}, store.FlagsReplace, store.Flags{System: store.FlagDeleted}, 0)
	want, err := a.Status(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	assertClean(t, s, "alice")

	corrupt(t, a, `UPDATE mailboxes SET messages = 9, unseen = 0, deleted = 7, size = 1 WHERE id = ?`, inbox.ID)
	if ps := problemsMatching(mustCheck(t, s), "INBOX", "counters"); len(ps) != 1 {
		t.Fatalf("check after corrupting counters: %v", mustCheck(t, s))
	}
	fixed, err := s.Repair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(fixed) != 1 || len(problemsMatching(fixed, "INBOX", "counters", "[9 0 7 1]")) != 1 {
		t.Fatalf("repair reported %v", fixed)
	}
	got, err := a.Status(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("status after repair %+v, want %+v", got, want)
	}
	assertClean(t, s, "alice")
	// A clean store needs nothing.
	if fixed, err := s.Repair(ctx, "alice"); err != nil || len(fixed) != 0 {
		t.Fatalf("second repair = %v, %v", fixed, err)
	}
}

// TestRepairRaisesNeverLowers: UIDNEXT below a used UID, HIGHESTMODSEQ
// below a message's modseq and a HIGHESTMODSEQ at the durable floor are
// all fixed by raising, so no UID or modseq is handed out twice.
func TestRepairRaisesNeverLowers(t *testing.T) {
	withStep(t, 8)
	s, a := newAccount(t)
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 4, store.Flags{})                              // modseq 2, UIDs 1-4
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSetOf(4)); err != nil { // modseq 3
		t.Fatal(err)
	}
	other, err := a.CreateMailbox(ctx, "Other", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.u.writeMu.Lock()
	floor := a.u.dbFloor
	a.u.writeMu.Unlock()

	corrupt(t, a, `UPDATE mailboxes SET uidnext = 2, highestmodseq = 2 WHERE id = ?`, inbox.ID)
	corrupt(t, a, `UPDATE mailboxes SET highestmodseq = ? WHERE id = ?`, floor+3, other.ID)
	ps := mustCheck(t, s)
	for _, words := range [][]string{
		{"INBOX", "UID 2", "not below UIDNEXT"},
		{"INBOX", "tombstone 4:4 outside"},
		{"INBOX", "tombstone modseq 3 above HIGHESTMODSEQ 2"},
		{"Other", "not below the durable floor"},
	} {
		if len(problemsMatching(ps, words...)) == 0 {
			t.Errorf("check does not report %q: %v", words, ps)
		}
	}

	fixed, err := s.Repair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, words := range [][]string{
		{"INBOX", "UIDNEXT was 2, raised to 5"},
		{"INBOX", "HIGHESTMODSEQ was 2, raised to 3"},
		{"Other", "not below the durable floor", "floor raised"},
	} {
		if len(problemsMatching(fixed, words...)) != 1 {
			t.Errorf("repair does not report %q: %v", words, fixed)
		}
	}
	assertClean(t, s, "alice")
	got := mustMailbox(t, a, "INBOX")
	if got.UIDNext != 5 || got.HighestModSeq != 3 {
		t.Fatalf("INBOX after repair %+v", got)
	}
	res := appendN(t, a, inbox.ID, 1, store.Flags{})
	if res.UIDs[0] != 5 || res.ModSeq != 4 {
		t.Fatalf("append after repair = %+v, want UID 5 modseq 4", res)
	}
	res = appendN(t, a, other.ID, 1, store.Flags{})
	if res.ModSeq != store.ModSeq(floor+4) {
		t.Fatalf("append to Other after repair = %+v, want modseq %d", res, floor+4)
	}
	man, ok, err := readManifest(a.u.dir)
	if err != nil || !ok || man.ModSeqFloor <= floor+4 {
		t.Fatalf("manifest after repair %+v %v %v, want floor above %d", man, ok, err, floor+4)
	}
	assertClean(t, s, "alice")
}
