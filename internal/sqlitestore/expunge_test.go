package sqlitestore

import (
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestExpungeDeletedReadsFlagsAtCommit: ExpungeDeleted decides inside its
// own transaction, so a message whose \Deleted was cleared after the
// caller last looked survives, and messages outside within stay even when
// flagged.
func TestExpungeDeletedReadsFlagsAtCommit(t *testing.T) {
	s, a := newAccount(t)
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 6, store.Flags{System: store.FlagSeen}) // modseq 2
	del := store.Flags{System: store.FlagDeleted}
	if _, err := a.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 6}}, store.FlagsAdd, del, 0); err != nil { // modseq 3
		t.Fatal(err)
	}
	// Another session un-deletes 2 after this one saw every message
	// flagged.
	if _, err := a.SetFlags(ctx, inbox.ID, store.UIDSetOf(2), store.FlagsRemove, del, 0); err != nil { // modseq 4
		t.Fatal(err)
	}
	res, err := a.ExpungeDeleted(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 4}})
	if err != nil {
		t.Fatal(err)
	}
	if res.ModSeq != 5 || !slices.Equal(res.UIDs, []store.UID{1, 3, 4}) {
		t.Fatalf("ExpungeDeleted = %+v, want UIDs 1,3,4 at modseq 5", res)
	}
	// Nothing left to remove in the range: no modseq.
	res, err = a.ExpungeDeleted(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 4}})
	if err != nil || res.ModSeq != 0 || res.UIDs != nil {
		t.Fatalf("second ExpungeDeleted = %+v, %v", res, err)
	}
	st, err := a.Status(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	// 2 (un-deleted), 5 and 6 (outside within) remain; 5 and 6 still
	// flagged.
	if st.Messages != 3 || st.Deleted != 2 || st.HighestModSeq != 5 {
		t.Fatalf("status after = %+v", st)
	}
	ch, err := a.ChangesSince(ctx, inbox.ID, 4)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Vanished.String() != "1,3:4" || len(ch.Changed) != 0 {
		t.Fatalf("changes since 4 = %+v", ch)
	}
	_, err = a.ExpungeDeleted(ctx, inbox.ID, store.UIDSet{{Start: 0, Stop: 1}})
	assertErr(t, err, store.ErrInvalidUID)
	_, err = a.ExpungeDeleted(ctx, 12345, store.UIDSetOf(1))
	assertErr(t, err, store.ErrNoMailbox)
	assertClean(t, s, "alice")
}
