package server

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestExpungeKeepsUndeleted: B clears the \Deleted that A set; A's
// EXPUNGE then leaves the message alone.
func TestExpungeKeepsUndeleted(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{})
	a, b := env.selectInbox(), env.selectInbox()
	a.send(`a1 STORE 2:3 +FLAGS.SILENT (\Deleted)`)
	a.expect(`^a1 OK`)
	b.send(`b1 STORE 2 -FLAGS.SILENT (\Deleted)`)
	b.until("b1 OK")
	a.send("a2 EXPUNGE")
	a.expect(`^\* 3 EXPUNGE$`, `^\* 2 FETCH \(FLAGS \(\)\)$`, `^a2 OK EXPUNGE completed$`)
	if st := env.inboxState(2); st.UID != 2 || st.Flags.System != 0 {
		t.Fatalf("message 2 after EXPUNGE: %+v", st)
	}
	if n := len(env.inboxMessages()); n != 2 {
		t.Fatalf("%d messages left, want 2", n)
	}
}

// interleavedStore runs before ahead of every ExpungeDeleted, standing in
// for another session whose commit lands between the command's look at
// the in-memory mailbox and the store's transaction.
type interleavedStore struct {
	store.Store
	before func()
}

type interleavedAccount struct {
	store.Account
	before func()
}

func (s interleavedStore) Open(ctx context.Context, user string) (store.Account, error) {
	a, err := s.Store.Open(ctx, user)
	if err != nil {
		return nil, err
	}
	return interleavedAccount{a, s.before}, nil
}

func (a interleavedAccount) ExpungeDeleted(ctx context.Context, id store.MailboxID, within store.UIDSet) (store.ExpungeResult, error) {
	a.before()
	return a.Account.ExpungeDeleted(ctx, id, within)
}

// TestExpungeUndeletedInTheWindow: a \Deleted cleared after EXPUNGE,
// UID EXPUNGE or CLOSE saw it in memory, but before the store's
// transaction, still saves the message: the store decides.
func TestExpungeUndeletedInTheWindow(t *testing.T) {
	var other atomic.Pointer[testEnv] // set once the server runs
	var undelete atomic.Uint32        // UID to un-delete ahead of the next ExpungeDeleted
	env := newTestEnv(t, func(cfg *Config) {
		cfg.Store = interleavedStore{Store: cfg.Store, before: func() {
			if u := store.UID(undelete.Swap(0)); u != 0 {
				other.Load().flagStore(store.UIDSetOf(u), store.FlagsRemove, store.Flags{System: store.FlagDeleted})
			}
		}}
	})
	other.Store(env)
	env.appendMessages("INBOX", 6, store.Flags{})
	c := env.selectInbox()

	c.send(`a STORE 1:2 +FLAGS.SILENT (\Deleted)`)
	c.expect(`^a OK`)
	undelete.Store(1)
	c.send("b EXPUNGE")
	c.expect(`^\* 2 EXPUNGE$`, `^\* 1 FETCH \(FLAGS \(\)\)$`, `^b OK EXPUNGE completed$`)

	c.send(`c UID STORE 3:4 +FLAGS.SILENT (\Deleted)`)
	c.expect(`^c OK`)
	undelete.Store(4)
	c.send("d UID EXPUNGE 3:6")
	c.expect(`^\* 2 EXPUNGE$`, `^\* 2 FETCH \(FLAGS \(\)\)$`, `^d OK UID EXPUNGE completed$`)

	c.send(`e UID STORE 5:6 +FLAGS.SILENT (\Deleted)`)
	c.expect(`^e OK`)
	undelete.Store(6)
	c.send("f CLOSE")
	c.expect(`^f OK CLOSE completed$`)
	var left []store.UID
	for _, m := range env.inboxMessages() {
		left = append(left, m.UID)
		if m.Flags.System&store.FlagDeleted != 0 {
			t.Errorf("UID %d still \\Deleted", m.UID)
		}
	}
	if len(left) != 3 || left[0] != 1 || left[1] != 4 || left[2] != 6 {
		t.Fatalf("UIDs left %v, want 1 4 6", left)
	}
}
