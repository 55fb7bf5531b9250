package sqlitestore

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestGroupCommit holds the writer lock while 16 writes queue up — 15 flag
// changes and one into a mailbox that does not exist — then lets them go:
// they run as one transaction with one commit, each flag change with a
// modseq of its own, the failing write rolled back alone with its error.
func TestGroupCommit(t *testing.T) {
	s, a := newAccount(t)
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 15, store.Flags{})
	before := mustMailbox(t, a, "INBOX").HighestModSeq
	commits := a.u.commits.Load()

	a.u.writeMu.Lock()
	type result struct {
		uid store.UID
		res store.FlagResult
		err error
	}
	results := make(chan result, 16)
	var wg sync.WaitGroup
	for u := store.UID(1); u <= 16; u++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := inbox.ID
			if u == 16 {
				id = 9999 // no such mailbox
			}
			res, err := a.SetFlags(ctx, id, store.UIDSetOf(u), store.FlagsAdd, store.Flags{Keywords: []string{"grouped"}}, 0)
			results <- result{u, res, err}
		}()
	}
	for {
		a.u.queueMu.Lock()
		n := len(a.u.queue)
		a.u.queueMu.Unlock()
		if n == 16 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	a.u.writeMu.Unlock()
	wg.Wait()
	close(results)

	var modseqs []store.ModSeq
	for r := range results {
		if r.uid == 16 {
			if !errors.Is(r.err, store.ErrNoMailbox) {
				t.Fatalf("write into a missing mailbox: %v", r.err)
			}
			continue
		}
		if r.err != nil || len(r.res.Changed) != 1 {
			t.Fatalf("UID %d: %+v, %v", r.uid, r.res, r.err)
		}
		modseqs = append(modseqs, r.res.ModSeq)
	}
	slices.Sort(modseqs)
	for i, m := range modseqs {
		if m != before+store.ModSeq(i+1) {
			t.Fatalf("modseqs %v after %d: each write must have its own", modseqs, before)
		}
	}
	if got := a.u.commits.Load() - commits; got != 1 {
		t.Fatalf("%d commits for 16 queued writes, want 1", got)
	}
	snap, err := a.Snapshot(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Mailbox.HighestModSeq != before+15 {
		t.Fatalf("HIGHESTMODSEQ %d, want %d", snap.Mailbox.HighestModSeq, before+15)
	}
	for _, m := range snap.Messages {
		if !m.Flags.Has("grouped") {
			t.Fatalf("UID %d lost its change", m.UID)
		}
	}
	assertClean(t, s, "alice")
}

// TestWritePanicReleasesWriter: a write that panics inside its
// transaction rolls it back, so the next write of the user runs (rather
// than waiting forever for the single writer connection) and the panicking
// write's changes are gone.
func TestWritePanicReleasesWriter(t *testing.T) {
	s, a := newAccount(t)
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 1, store.Flags{})
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the write's panic did not reach its caller")
			}
		}()
		a.u.write(ctx, func(tx *writeTx) error {
			if _, err := tx.q.ExecContext(tx.ctx, `UPDATE mailboxes SET uidnext = uidnext + 1000`); err != nil {
				return err
			}
			panic("in the middle of a write")
		})
	}()
	done := make(chan error, 1)
	go func() {
		_, err := a.SetFlags(ctx, inbox.ID, store.UIDSetOf(1), store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the next write still waits 30 s after a write panicked")
	}
	if mb := mustMailbox(t, a, "INBOX"); mb.UIDNext != 2 {
		t.Fatalf("UIDNEXT %d: the panicking write's change was kept", mb.UIDNext)
	}
	assertClean(t, s, "alice")
}
