package storetest

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// testReplace: store.Replacer appends and expunges in one transaction, in
// the same mailbox (one modseq) or another; a message that is gone fails
// the whole call and appends nothing; a replacement with the very same
// bytes keeps them readable.
func testReplace(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r, ok := a.(store.Replacer)
	if !ok {
		t.Skip("backend has no store.Replacer")
	}
	inbox := MustMailbox(t, a, "INBOX")
	AppendN(t, a, inbox.ID, 3, store.Flags{})
	before := mustStatus(t, a, inbox.ID)
	res, err := r.Replace(ctx, inbox.ID, 2, inbox.ID, store.NewMessage{
		Body: strings.NewReader(MessageText(9, "")), Flags: store.Flags{System: store.FlagSeen | store.FlagDraft}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Append.UIDs, []store.UID{4}) || !slices.Equal(res.Expunge.UIDs, []store.UID{2}) ||
		res.Append.ModSeq != res.Expunge.ModSeq || res.Append.ModSeq != before.HighestModSeq+1 || res.Append.UIDValidity != inbox.UIDValidity {
		t.Fatalf("replace = %+v", res)
	}
	st := mustStatus(t, a, inbox.ID)
	if st.Messages != 3 || st.UIDNext != 5 || st.HighestModSeq != res.Append.ModSeq || st.Unseen != 2 {
		t.Fatalf("status after replace %+v", st)
	}
	ch, err := a.ChangesSince(ctx, inbox.ID, before.HighestModSeq)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Changed) != 1 || ch.Changed[0].UID != 4 || !ch.Vanished.Contains(2) {
		t.Fatalf("changes %+v", ch)
	}

	// Into another mailbox; then the same bytes as the message replaced.
	drafts, err := a.CreateMailbox(ctx, "Drafts", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err = r.Replace(ctx, inbox.ID, 1, drafts.ID, store.NewMessage{Body: strings.NewReader(MessageText(0, ""))})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Append.UIDs, []store.UID{1}) || res.Append.UIDValidity != drafts.UIDValidity || !slices.Equal(res.Expunge.UIDs, []store.UID{1}) {
		t.Fatalf("replace into Drafts = %+v", res)
	}
	if st := mustStatus(t, a, inbox.ID); st.Messages != 2 {
		t.Fatalf("INBOX %+v", st)
	}
	var blobID string
	if err := a.Messages(ctx, drafts.ID, store.UIDSet{{Start: 1, Stop: 1}}, func(m *store.MessageData) error {
		blobID = m.BlobID
		return nil
	}); err != nil || blobID == "" {
		t.Fatalf("replacement not found: %v", err)
	}
	b, err := a.OpenBlob(ctx, blobID)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(b)
	b.Close()
	if string(data) != MessageText(0, "") {
		t.Fatalf("replacement bytes %q", data)
	}

	// A message that is gone: nothing appended, nothing expunged.
	before = mustStatus(t, a, drafts.ID)
	_, err = r.Replace(ctx, inbox.ID, 2, drafts.ID, store.NewMessage{Body: strings.NewReader(MessageText(5, ""))})
	if !errors.Is(err, store.ErrMessageGone) {
		t.Fatalf("replace of an expunged message: %v", err)
	}
	if st := mustStatus(t, a, drafts.ID); st.Messages != before.Messages || st.UIDNext != before.UIDNext || st.HighestModSeq != before.HighestModSeq {
		t.Fatalf("a failed replace changed Drafts: %+v", st)
	}
	if _, err := r.Replace(ctx, inbox.ID, 3, 9999, store.NewMessage{Body: strings.NewReader(MessageText(5, ""))}); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("replace into a missing mailbox: %v", err)
	}
	if st := mustStatus(t, a, inbox.ID); st.Messages != 2 {
		t.Fatalf("a failed replace expunged: %+v", st)
	}
	AssertClean(t, s, "alice")
}

func mustStatus(t *testing.T, a store.Account, id store.MailboxID) store.MailboxStatus {
	t.Helper()
	st, err := a.Status(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
