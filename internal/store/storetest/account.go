package storetest

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func testAppendAndRead(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	inbox := MustMailbox(t, a, "inbox")
	if inbox.Name != "INBOX" || inbox.UIDNext != 1 || inbox.HighestModSeq != 1 || inbox.UIDValidity == 0 {
		t.Fatalf("new INBOX = %+v", inbox)
	}
	date := time.Date(2024, 3, 1, 12, 30, 0, 0, time.FixedZone("", 3600))
	body := MessageText(1, "")
	res, err := a.Append(ctx, inbox.ID, []store.NewMessage{
		{Body: strings.NewReader(body), Flags: store.Flags{System: store.FlagSeen, Keywords: []string{"b", "A", "a"}}, InternalDate: date},
		{Body: strings.NewReader(MessageText(2, ""))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.UIDs, []store.UID{1, 2}) || res.ModSeq != 2 || res.UIDValidity != inbox.UIDValidity {
		t.Fatalf("append = %+v", res)
	}
	st, err := a.Status(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Messages != 2 || st.Unseen != 1 || st.Deleted != 0 || st.UIDNext != 3 || st.HighestModSeq != 2 {
		t.Fatalf("status = %+v", st)
	}
	var got []*store.MessageData
	err = a.Messages(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}}, func(m *store.MessageData) error {
		got = append(got, m)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d messages", len(got))
	}
	m := got[0]
	if !m.InternalDate.Equal(date) || m.InternalDate.Format("-0700") != "+0100" {
		t.Errorf("internal date %v", m.InternalDate)
	}
	if !slices.Equal(m.Flags.Keywords, []string{"A", "b"}) || m.Flags.System != store.FlagSeen {
		t.Errorf("flags %+v", m.Flags)
	}
	if m.Size != int64(len(body)) || m.EmailID == "" || m.ThreadID == "" || m.Structure == nil || m.SaveDate.IsZero() {
		t.Errorf("data %+v", m)
	}
	if got[0].EmailID == got[1].EmailID || got[0].ThreadID == got[1].ThreadID {
		t.Errorf("unrelated messages share ids")
	}
	b, err := a.OpenBlob(ctx, m.BlobID)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data, _ := io.ReadAll(b)
	if string(data) != body || b.Size() != int64(len(body)) {
		t.Fatalf("blob %q", data)
	}
	u, err := a.Usage(ctx)
	if err != nil || u.Messages != 2 || u.Bytes != st.Size {
		t.Fatalf("usage %+v %v", u, err)
	}
	AssertClean(t, s, "alice")
}

func testThreadIDs(t *testing.T, be Backend) {
	_, a := be.newAccount(t)
	inbox := MustMailbox(t, a, "INBOX")
	msgs := []string{
		"Message-ID: <root@x>\r\nSubject: root\r\n\r\nbody\r\n",
		"Message-ID: <reply@x>\r\nIn-Reply-To: <root@x>\r\nReferences: <root@x>\r\n\r\nbody\r\n",
		"Message-ID: <other@x>\r\n\r\nbody\r\n",
		"Message-ID: <deep@x>\r\nReferences: <root@x> <reply@x>\r\n\r\nbody\r\n",
	}
	var nm []store.NewMessage
	for _, m := range msgs {
		nm = append(nm, store.NewMessage{Body: strings.NewReader(m)})
	}
	if _, err := a.Append(ctx, inbox.ID, nm); err != nil {
		t.Fatal(err)
	}
	// A reply whose parent arrives later: the parent joins its thread.
	late := []store.NewMessage{
		{Body: strings.NewReader("Message-ID: <child@y>\r\nReferences: <parent@y>\r\n\r\nx\r\n")},
	}
	a.Append(ctx, inbox.ID, late)
	a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader("Message-ID: <parent@y>\r\n\r\nx\r\n")}})
	var th []string
	a.Messages(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 10}}, func(m *store.MessageData) error {
		th = append(th, m.ThreadID)
		return nil
	})
	if th[0] != th[1] || th[0] != th[3] || th[2] == th[0] || th[4] != th[5] || th[4] == th[0] {
		t.Fatalf("thread ids %v", th)
	}
}

func testSetFlags(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	inbox := MustMailbox(t, a, "INBOX")
	AppendN(t, a, inbox.ID, 5, store.Flags{})
	all := store.UIDSet{{Start: 1, Stop: 5}}

	res, err := a.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 3}}, store.FlagsAdd, store.Flags{System: store.FlagSeen, Keywords: []string{"Work"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.ModSeq != 3 || len(res.Changed) != 3 || len(res.Unchanged) != 0 {
		t.Fatalf("+FLAGS = %+v", res)
	}
	if c := res.Changed[0]; c.UID != 1 || c.ModSeq != 3 || c.Flags.System != store.FlagSeen || !slices.Equal(c.Flags.Keywords, []string{"Work"}) {
		t.Fatalf("changed[0] = %+v", c)
	}
	// Same change again: nothing changes, no modseq.
	res, err = a.SetFlags(ctx, inbox.ID, all, store.FlagsAdd, store.Flags{System: store.FlagSeen, Keywords: []string{"work"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.ModSeq != 4 || len(res.Changed) != 2 || len(res.Unchanged) != 3 {
		t.Fatalf("second +FLAGS = %+v", res)
	}
	res, err = a.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 1}}, store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0)
	if err != nil || res.ModSeq != 0 || len(res.Changed) != 0 || len(res.Unchanged) != 1 {
		t.Fatalf("no-op +FLAGS = %+v, %v", res, err)
	}
	if st, _ := a.Status(ctx, inbox.ID); st.HighestModSeq != 4 || st.Unseen != 0 {
		t.Fatalf("status %+v", st)
	}
	// UNCHANGEDSINCE 3: UIDs 4,5 (modseq 4) fail.
	res, err = a.SetFlags(ctx, inbox.ID, all, store.FlagsRemove, store.Flags{System: store.FlagSeen}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if res.Modified.String() != "4:5" || len(res.Changed) != 3 || res.ModSeq != 5 {
		t.Fatalf("UNCHANGEDSINCE = %+v", res)
	}
	// Replace with keyword, and -FLAGS of a keyword.
	res, err = a.SetFlags(ctx, inbox.ID, all, store.FlagsReplace, store.Flags{System: store.FlagDeleted, Keywords: []string{"x"}}, 0)
	if err != nil || len(res.Changed) != 5 {
		t.Fatalf("FLAGS = %+v, %v", res, err)
	}
	res, err = a.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 2, Stop: 2}}, store.FlagsRemove, store.Flags{Keywords: []string{"X"}}, 0)
	if err != nil || len(res.Changed) != 1 || res.Changed[0].Flags.Keywords != nil {
		t.Fatalf("-FLAGS keyword = %+v, %v", res, err)
	}
	if st, _ := a.Status(ctx, inbox.ID); st.Deleted != 5 || st.Unseen != 5 {
		t.Fatalf("status %+v", st)
	}
	// Errors.
	_, err = a.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 0, Stop: 3}}, store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0)
	AssertErr(t, err, store.ErrInvalidUID)
	_, err = a.SetFlags(ctx, inbox.ID, all, store.FlagsAdd, store.Flags{Keywords: []string{"a b"}}, 0)
	AssertErr(t, err, store.ErrInvalidKeyword)
	_, err = a.SetFlags(ctx, 12345, all, store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0)
	AssertErr(t, err, store.ErrNoMailbox)
	// UIDs beyond UIDNEXT are ignored.
	res, err = a.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 100, Stop: 200}}, store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0)
	if err != nil || res.ModSeq != 0 {
		t.Fatalf("out of range = %+v, %v", res, err)
	}
	AssertClean(t, s, "alice")
}

func testExpungeAndChanges(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	inbox := MustMailbox(t, a, "INBOX")
	AppendN(t, a, inbox.ID, 10, store.Flags{}) // modseq 2
	res, err := a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 2, Stop: 4}, {Start: 8, Stop: 20}})
	if err != nil {
		t.Fatal(err)
	}
	if res.ModSeq != 3 || !slices.Equal(res.UIDs, []store.UID{2, 3, 4, 8, 9, 10}) {
		t.Fatalf("expunge = %+v", res)
	}
	// Expunging nothing allocates nothing.
	res, err = a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 2, Stop: 4}})
	if err != nil || res.ModSeq != 0 || res.UIDs != nil {
		t.Fatalf("empty expunge = %+v, %v", res, err)
	}
	_, err = a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 0, Stop: 1}})
	AssertErr(t, err, store.ErrInvalidUID)
	a.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 5, Stop: 5}}, store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0) // modseq 4
	a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 1}})                                                             // modseq 5

	ch, err := a.ChangesSince(ctx, inbox.ID, 3)
	if err != nil {
		t.Fatal(err)
	}
	// UID 1's tombstone joined 2:4's, at the later modseq: 2:4 are
	// reported again, which is safe (they are gone either way).
	if !ch.Exact || ch.Vanished.String() != "1:4" || len(ch.Changed) != 1 || ch.Changed[0].UID != 5 || ch.Mailbox.HighestModSeq != 5 {
		t.Fatalf("changes since 3 = %+v", ch)
	}
	ch, _ = a.ChangesSince(ctx, inbox.ID, 2)
	if ch.Vanished.String() != "1:4,8:10" || len(ch.Changed) != 1 {
		t.Fatalf("changes since 2 = %+v", ch)
	}
	ch, _ = a.ChangesSince(ctx, inbox.ID, 5)
	if len(ch.Changed) != 0 || !ch.Vanished.Empty() {
		t.Fatalf("changes since 5 = %+v", ch)
	}
	// Pruning: exact at or above the pruned point, a superset below.
	if err := a.PruneTombstones(ctx, inbox.ID, 3); err != nil {
		t.Fatal(err)
	}
	ch, _ = a.ChangesSince(ctx, inbox.ID, 3)
	if !ch.Exact || ch.Vanished.String() != "1:4" || ch.PrunedBelow != 3 {
		t.Fatalf("changes since 3 after prune = %+v", ch)
	}
	ch, _ = a.ChangesSince(ctx, inbox.ID, 2)
	if ch.Exact || ch.Vanished.String() != "1:4,8:10" || len(ch.Changed) != 1 {
		t.Fatalf("changes since 2 after prune = %+v", ch)
	}
	st, _ := a.Status(ctx, inbox.ID)
	if st.Messages != 3 || st.HighestModSeq != 5 {
		t.Fatalf("status %+v", st)
	}
	AssertClean(t, s, "alice")
}

// TestExpungeDeletedReadsFlagsAtCommit: ExpungeDeleted decides inside its
// own transaction, so a message whose \Deleted was cleared after the
// caller last looked survives, and messages outside within stay even when
// flagged.
func testExpungeDeletedReadsFlagsAtCommit(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	inbox := MustMailbox(t, a, "INBOX")
	AppendN(t, a, inbox.ID, 6, store.Flags{System: store.FlagSeen}) // modseq 2
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
	AssertErr(t, err, store.ErrInvalidUID)
	_, err = a.ExpungeDeleted(ctx, 12345, store.UIDSetOf(1))
	AssertErr(t, err, store.ErrNoMailbox)
	AssertClean(t, s, "alice")
}
