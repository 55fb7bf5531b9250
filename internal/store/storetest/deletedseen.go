package storetest

import (
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// testMailboxTombstoneSeen: a deleted mailbox's tombstone records the
// EMAILIDs of the messages it had seen (store.MailboxTombstone.Seen):
// nothing for a mailbox never synced with a peer; for a synced one, the
// messages it held and those expunged from it; a peer's delete adds the
// peer's list, for a mailbox held here or not, and a second one adds to
// the first.
func testMailboxTombstoneSeen(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	tombstone := func(guid string) store.MailboxTombstone {
		t.Helper()
		st, err := r.AccountState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range st.Deleted {
			if d.GUID == guid {
				return d
			}
		}
		t.Fatalf("no tombstone for %s: %+v", guid, st.Deleted)
		return store.MailboxTombstone{}
	}
	emailIDs := func(id store.MailboxID) []string {
		t.Helper()
		var ids []string
		err := a.Messages(ctx, id, store.UIDSet{{Start: 1, Stop: store.MaxUID}}, func(m *store.MessageData) error {
			ids = append(ids, m.EmailID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}

	plain, err := a.CreateMailbox(ctx, "plain", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	AppendN(t, a, plain.ID, 2, store.Flags{})
	if err := a.DeleteMailbox(ctx, "plain"); err != nil {
		t.Fatal(err)
	}
	if d := tombstone(plain.GUID); d.Seen != nil {
		t.Fatalf("never synced, yet its tombstone saw %q", d.Seen)
	}

	synced, err := a.CreateMailbox(ctx, "synced", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	AppendN(t, a, synced.ID, 3, store.Flags{})
	if _, err := r.Apply(ctx, synced.ID, store.Batch{KeepHistory: true}); err != nil {
		t.Fatal(err)
	}
	want := emailIDs(synced.ID)
	if _, err := a.Expunge(ctx, synced.ID, store.UIDSetOf(1)); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteMailbox(ctx, "synced"); err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	if d := tombstone(synced.GUID); !slices.Equal(d.Seen, want) {
		t.Fatalf("tombstone saw %q, want %q (two held, one expunged)", d.Seen, want)
	}

	// A peer's delete of a mailbox not here, twice.
	for _, seen := range [][]string{{"Mb", "Ma"}, {"Mc", "Ma"}} {
		if _, err := r.ApplyAccount(ctx, []store.AccountOp{{Kind: store.OpDelete, GUID: "Mpeer", Name: "p", Seen: seen}}, "peer", nil); err != nil {
			t.Fatal(err)
		}
	}
	if d := tombstone("Mpeer"); !slices.Equal(d.Seen, []string{"Ma", "Mb", "Mc"}) {
		t.Fatalf("peer's tombstone saw %q", d.Seen)
	}

	// A peer's delete of a synced mailbox held here.
	held, err := a.CreateMailbox(ctx, "held", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	AppendN(t, a, held.ID, 1, store.Flags{})
	if _, err := r.Apply(ctx, held.ID, store.Batch{KeepHistory: true}); err != nil {
		t.Fatal(err)
	}
	want = append(emailIDs(held.ID), "Mzz")
	if _, err := r.ApplyAccount(ctx, []store.AccountOp{{Kind: store.OpDelete, GUID: held.GUID, Name: "held", Seen: []string{"Mzz"}}}, "peer", nil); err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	if d := tombstone(held.GUID); !slices.Equal(d.Seen, want) {
		t.Fatalf("tombstone of a peer's delete saw %q, want %q", d.Seen, want)
	}
}
