package sqlitestore

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func TestAppendAndRead(t *testing.T) {
	s, a := newAccount(t)
	inbox := mustMailbox(t, a, "inbox")
	if inbox.Name != "INBOX" || inbox.UIDNext != 1 || inbox.HighestModSeq != 1 || inbox.UIDValidity == 0 {
		t.Fatalf("new INBOX = %+v", inbox)
	}
	date := time.Date(2024, 3, 1, 12, 30, 0, 0, time.FixedZone("", 3600))
	body := testMessage(1, "")
	res, err := a.Append(ctx, inbox.ID, []store.NewMessage{
		{Body: strings.NewReader(body), Flags: store.Flags{System: store.FlagSeen, Keywords: []string{"b", "A", "a"}}, InternalDate: date},
		{Body: strings.NewReader(testMessage(2, ""))},
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
	assertClean(t, s, "alice")
}

func TestAppendErrors(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{MaxMessageSize: 100})
	s.CreateUser(ctx, "bob")
	a, err := s.openAccount(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	inbox := mustMailbox(t, a, "INBOX")
	_, err = a.Append(ctx, inbox.ID, []store.NewMessage{
		{Body: strings.NewReader("small\r\n")},
		{Body: bytes.NewReader(bytes.Repeat([]byte("x"), 101))},
	})
	assertErr(t, err, store.ErrTooBig)
	_, err = a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader("x"), Flags: store.Flags{Keywords: []string{"bad(kw"}}}})
	assertErr(t, err, store.ErrInvalidKeyword)
	_, err = a.Append(ctx, 999, []store.NewMessage{{Body: strings.NewReader("x")}})
	assertErr(t, err, store.ErrNoMailbox)
	if st, _ := a.Status(ctx, inbox.ID); st.Messages != 0 || st.HighestModSeq != 1 {
		t.Fatalf("failed appends changed the mailbox: %+v", st)
	}
	if es, _ := os.ReadDir(filepath.Join(dir, "users", "bob", "blobs", "tmp")); len(es) != 0 {
		t.Fatalf("temporary files left: %d", len(es))
	}
	// A failed batch is discarded before any blob takes its content name.
	if n, err := s.CollectBlobs(ctx, "bob"); err != nil || n != 0 {
		t.Fatalf("CollectBlobs = %d, %v", n, err)
	}
	assertClean(t, s, "bob")
}

func TestThreadIDs(t *testing.T) {
	_, a := newAccount(t)
	inbox := mustMailbox(t, a, "INBOX")
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

func TestSetFlags(t *testing.T) {
	s, a := newAccount(t)
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 5, store.Flags{})
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
	assertErr(t, err, store.ErrInvalidUID)
	_, err = a.SetFlags(ctx, inbox.ID, all, store.FlagsAdd, store.Flags{Keywords: []string{"a b"}}, 0)
	assertErr(t, err, store.ErrInvalidKeyword)
	_, err = a.SetFlags(ctx, 12345, all, store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0)
	assertErr(t, err, store.ErrNoMailbox)
	// UIDs beyond UIDNEXT are ignored.
	res, err = a.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 100, Stop: 200}}, store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0)
	if err != nil || res.ModSeq != 0 {
		t.Fatalf("out of range = %+v, %v", res, err)
	}
	assertClean(t, s, "alice")
}

func TestExpungeAndChanges(t *testing.T) {
	s, a := newAccount(t)
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 10, store.Flags{}) // modseq 2
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
	assertErr(t, err, store.ErrInvalidUID)
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
	assertClean(t, s, "alice")
}

// TestCopyMove runs with bodies stored inline and in blob files.
func TestCopyMove(t *testing.T) {
	t.Run("inline", func(t *testing.T) { testCopyMove(t, Options{}, true) })
	t.Run("files", func(t *testing.T) { testCopyMove(t, Options{InlineBodyMax: -1}, false) })
}

func testCopyMove(t *testing.T, opts Options, inline bool) {
	s, a := newAccountWith(t, opts)
	inbox := mustMailbox(t, a, "INBOX")
	dst, err := a.CreateMailbox(ctx, "Archive", store.CreateOptions{SpecialUse: `\Archive`})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, a, inbox.ID, 4, store.Flags{Keywords: []string{"k"}})
	cr, err := a.Copy(ctx, inbox.ID, dst.ID, store.UIDSet{{Start: 2, Stop: 3}, {Start: 9, Stop: 9}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cr.SrcUIDs, []store.UID{2, 3}) || !slices.Equal(cr.DstUIDs, []store.UID{1, 2}) || cr.DstModSeq != 2 || cr.SrcModSeq != 0 || cr.UIDValidity != dst.UIDValidity {
		t.Fatalf("copy = %+v", cr)
	}
	mr, err := a.Move(ctx, inbox.ID, dst.ID, store.UIDSet{{Start: 1, Stop: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(mr.DstUIDs, []store.UID{3, 4}) || mr.DstModSeq != 3 || mr.SrcModSeq != 3 {
		t.Fatalf("move = %+v", mr)
	}
	src := map[store.UID]string{}
	a.Messages(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 10}}, func(m *store.MessageData) error { src[m.UID] = m.EmailID; return nil })
	var dstIDs []string
	var blobs []string
	a.Messages(ctx, dst.ID, store.UIDSet{{Start: 1, Stop: 10}}, func(m *store.MessageData) error {
		dstIDs = append(dstIDs, m.EmailID)
		blobs = append(blobs, m.BlobID)
		if !m.Flags.Has("k") {
			t.Errorf("copy lost keyword")
		}
		return nil
	})
	if len(src) != 2 || len(dstIDs) != 4 || dstIDs[0] != src[3] && dstIDs[1] != src[3] {
		t.Fatalf("email ids src %v dst %v", src, dstIDs)
	}
	ch, _ := a.ChangesSince(ctx, inbox.ID, 2)
	if ch.Vanished.String() != "1:2" {
		t.Fatalf("move tombstones %v", ch.Vanished)
	}
	// Nothing to copy: no modseq.
	cr, err = a.Copy(ctx, inbox.ID, dst.ID, store.UIDSet{{Start: 1, Stop: 2}})
	if err != nil || cr.DstModSeq != 0 || len(cr.DstUIDs) != 0 {
		t.Fatalf("empty copy = %+v, %v", cr, err)
	}
	_, err = a.Copy(ctx, inbox.ID, 999, store.UIDSet{{Start: 1, Stop: 2}})
	assertErr(t, err, store.ErrNoMailbox)
	_, err = a.Move(ctx, inbox.ID, dst.ID, store.UIDSet{{Start: 0, Stop: 2}})
	assertErr(t, err, store.ErrInvalidUID)
	// Move within the same mailbox renumbers under one modseq.
	mr, err = a.Move(ctx, dst.ID, dst.ID, store.UIDSet{{Start: 1, Stop: 1}})
	if err != nil || mr.DstModSeq != mr.SrcModSeq || mr.DstUIDs[0] != 5 {
		t.Fatalf("self move = %+v, %v", mr, err)
	}
	// Copies share one body, stored once.
	if n := countBodies(t, a); inline && n != 4 || !inline && n != 0 {
		t.Fatalf("%d inline bodies for 4 distinct messages (inline %v)", n, inline)
	}
	// Deleting both mailboxes' messages removes the contents; the bodies
	// (inline or files) go at collection.
	a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 100}})
	if n := countBodies(t, a); inline && n == 0 {
		t.Fatal("bodies still referenced from Archive were deleted")
	}
	if err := a.DeleteMailbox(ctx, "Archive"); err != nil {
		t.Fatal(err)
	}
	assertClean(t, s, "alice")
	if n, err := s.CollectBlobs(ctx, "alice"); err != nil || n != 4 {
		t.Fatalf("collected %d, %v, want 4", n, err)
	}
	if n := countBodies(t, a); n != 0 {
		t.Fatalf("%d inline bodies left without messages", n)
	}
	assertClean(t, s, "alice")
}
