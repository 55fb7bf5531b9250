package sqlitestore

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

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
