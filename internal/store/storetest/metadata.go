package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func openMetadata(t *testing.T, s store.Store, user string) store.Metadata {
	t.Helper()
	ms, ok := s.(store.MetadataStore)
	if !ok {
		t.Skip("backend keeps no metadata")
	}
	md, err := ms.OpenMetadata(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { md.Close() })
	return md
}

func entryNames(es []store.MetadataEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name)
	}
	return out
}

func testMetadata(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	md := openMetadata(t, s, "alice")
	inbox := MustMailbox(t, a, "INBOX")
	set := func(id store.MailboxID, lim store.MetadataLimits, kv ...string) (store.ModSeq, error) {
		var es []store.MetadataEntry
		for i := 0; i < len(kv); i += 2 {
			e := store.MetadataEntry{Name: kv[i]}
			if kv[i+1] != "NIL" {
				e.Value = []byte(kv[i+1])
			}
			es = append(es, e)
		}
		return md.SetMetadata(ctx, id, es, lim)
	}
	get := func(id store.MailboxID, depth int, names ...string) []store.MetadataEntry {
		t.Helper()
		es, err := md.GetMetadata(ctx, id, names, depth)
		if err != nil {
			t.Fatal(err)
		}
		return es
	}

	// A mailbox entry raises the mailbox's HIGHESTMODSEQ and wakes its
	// watchers; setting the same value again changes nothing.
	w := s.Hub().Watch("alice", inbox.ID)
	defer w.Close()
	aw := s.Hub().WatchAccount("alice")
	defer aw.Close()
	ms, err := set(inbox.ID, store.MetadataLimits{}, "/private/comment", "mine", "/shared/comment", "")
	if err != nil {
		t.Fatal(err)
	}
	if ms <= inbox.HighestModSeq {
		t.Fatalf("SetMetadata modseq %d, HIGHESTMODSEQ was %d", ms, inbox.HighestModSeq)
	}
	if st, _ := a.Status(ctx, inbox.ID); st.HighestModSeq != ms {
		t.Fatalf("HIGHESTMODSEQ %d after SetMetadata at %d", st.HighestModSeq, ms)
	}
	select {
	case <-w.C:
	default:
		t.Fatal("SetMetadata woke no watcher")
	}
	if p := aw.Take(); len(p) != 1 || p[0] != (store.AccountChange{ID: inbox.ID, ModSeq: ms}) {
		t.Fatalf("account watcher got %v, want INBOX at %d", p, ms)
	}
	if again, err := set(inbox.ID, store.MetadataLimits{}, "/private/comment", "mine"); err != nil || again != 0 {
		t.Fatalf("same value again: modseq %d, %v; want 0", again, err)
	}
	es := get(inbox.ID, 0, "/private/comment", "/shared/comment", "/private/none")
	if len(es) != 2 || string(es[0].Value) != "mine" || es[1].Value == nil || len(es[1].Value) != 0 {
		t.Fatalf("got %+v", es)
	}

	// Depth.
	if _, err := set(inbox.ID, store.MetadataLimits{}, "/private/a", "1", "/private/a/b", "2", "/private/a/b/c", "3", "/private/ab", "x"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		depth int
		want  []string
	}{
		{0, []string{"/private/a"}},
		{1, []string{"/private/a", "/private/a/b"}},
		{-1, []string{"/private/a", "/private/a/b", "/private/a/b/c"}},
	} {
		if got := entryNames(get(inbox.ID, tc.depth, "/private/a")); !slices.Equal(got, tc.want) {
			t.Errorf("depth %d: %v, want %v", tc.depth, got, tc.want)
		}
	}

	// Limits: all or nothing.
	before := get(inbox.ID, -1, "/private", "/shared")
	_, err = set(inbox.ID, store.MetadataLimits{MaxSize: 4}, "/private/new", "ok", "/private/big", "12345")
	var le *store.MetadataLimitError
	if !errors.As(err, &le) || le.MaxSize != 4 {
		t.Fatalf("too large: %v", err)
	}
	_, err = set(inbox.ID, store.MetadataLimits{MaxEntries: len(before) + 1}, "/private/n1", "1", "/private/n2", "2")
	if !errors.As(err, &le) || !le.TooMany {
		t.Fatalf("too many: %v", err)
	}
	if after := get(inbox.ID, -1, "/private", "/shared"); len(after) != len(before) {
		t.Fatalf("a refused SetMetadata changed entries: %v -> %v", entryNames(before), entryNames(after))
	}
	// Replacing or deleting within the limit is allowed at the limit.
	if _, err := set(inbox.ID, store.MetadataLimits{MaxEntries: len(before)}, "/private/a", "changed", "/private/ab", "NIL", "/private/n1", "1"); err != nil {
		t.Fatalf("at the limit: %v", err)
	}

	// Deletions are seen by MetadataChangedSince.
	since := ms
	ch, err := md.MetadataChangedSince(ctx, inbox.ID, since)
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, e := range ch {
		if e.Value == nil {
			deleted = append(deleted, e.Name)
		}
	}
	if !slices.Contains(deleted, "/private/ab") || slices.Contains(entryNames(ch), "/private/comment") {
		t.Fatalf("changes since %d: %+v", since, ch)
	}

	// Server entries: their own modseq, published under AccountID.
	aw.Take()
	sms, err := set(store.ServerMetadata, store.MetadataLimits{}, "/shared/comment", "server")
	if err != nil || sms == 0 {
		t.Fatalf("server entry: %d, %v", sms, err)
	}
	if p := aw.Take(); !hasKey(p, store.AccountID) {
		t.Fatalf("server metadata not published under AccountID: %v", p)
	}
	if got, _ := md.ServerMetadataModSeq(ctx); got != sms {
		t.Fatalf("ServerMetadataModSeq %d, want %d", got, sms)
	}
	if es := get(store.ServerMetadata, 0, "/shared/comment"); len(es) != 1 || string(es[0].Value) != "server" {
		t.Fatalf("server entry read back: %+v", es)
	}

	// Entries follow RENAME and go with DELETE.
	box, err := a.CreateMailbox(ctx, "Box", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p := aw.Take(); !hasKey(p, store.AccountID) {
		t.Fatalf("CREATE not published under AccountID: %v", p)
	}
	if _, err := set(box.ID, store.MetadataLimits{}, "/private/comment", "box"); err != nil {
		t.Fatal(err)
	}
	if err := a.RenameMailbox(ctx, "Box", "Renamed"); err != nil {
		t.Fatal(err)
	}
	if p := aw.Take(); !hasKey(p, store.AccountID) {
		t.Fatalf("RENAME not published under AccountID: %v", p)
	}
	if es := get(box.ID, 0, "/private/comment"); len(es) != 1 || string(es[0].Value) != "box" {
		t.Fatalf("after RENAME: %+v", es)
	}
	if err := a.DeleteMailbox(ctx, "Renamed"); err != nil {
		t.Fatal(err)
	}
	if _, err := md.GetMetadata(ctx, box.ID, []string{"/private/comment"}, 0); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("deleted mailbox: %v", err)
	}
	if _, err := set(box.ID, store.MetadataLimits{}, "/private/comment", "x"); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("set on deleted mailbox: %v", err)
	}
	if ch, _ := md.MetadataChangedSince(ctx, box.ID, 0); len(ch) != 0 {
		t.Fatalf("deleted mailbox keeps entries: %+v", ch)
	}
	again, err := a.CreateMailbox(ctx, "Renamed", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if es := get(again.ID, -1, "/private", "/shared"); len(es) != 0 {
		t.Fatalf("recreated mailbox inherits %+v", es)
	}
	if err := a.SetSubscribed(ctx, "Renamed", true); err != nil {
		t.Fatal(err)
	}
	if p := aw.Take(); !hasKey(p, store.AccountID) {
		t.Fatalf("SUBSCRIBE not published under AccountID: %v", p)
	}

	// RENAME of INBOX: INBOX keeps its entries, the new mailbox gets a
	// copy (RFC 5464 4.1).
	if err := a.RenameMailbox(ctx, "INBOX", "Old Inbox"); err != nil {
		t.Fatal(err)
	}
	old := MustMailbox(t, a, "Old Inbox")
	if es := get(old.ID, 0, "/private/comment"); len(es) != 1 || string(es[0].Value) != "mine" || es[0].ModSeq > old.HighestModSeq {
		t.Fatalf("renamed INBOX's copy: %+v (mailbox at %d)", es, old.HighestModSeq)
	}
	if es := get(inbox.ID, 0, "/private/comment"); len(es) != 1 || string(es[0].Value) != "mine" {
		t.Fatalf("INBOX after its rename: %+v", es)
	}

	// Another user sees none of it, even by alice's mailbox id.
	mustUser(t, s, "bob")
	bmd := openMetadata(t, s, "bob")
	if es, _ := bmd.GetMetadata(ctx, store.ServerMetadata, []string{"/shared", "/private"}, -1); len(es) != 0 {
		t.Fatalf("bob sees server entries %+v", es)
	}
	// Mailbox ids may be per user (the same number naming bob's own
	// mailbox) or global (naming nothing of bob's): either way bob never
	// reaches alice's entries.
	if es, err := bmd.GetMetadata(ctx, inbox.ID, []string{"/private/comment"}, 0); err != nil && !errors.Is(err, store.ErrNoMailbox) || len(es) != 0 {
		t.Fatalf("bob reads alice's INBOX entries: %+v, %v", es, err)
	}
	if _, err := bmd.SetMetadata(ctx, inbox.ID, []store.MetadataEntry{{Name: "/private/comment", Value: []byte("bob's")}}, store.MetadataLimits{}); err != nil && !errors.Is(err, store.ErrNoMailbox) {
		t.Fatal(err)
	}
	if es := get(inbox.ID, 0, "/private/comment"); len(es) != 1 || string(es[0].Value) != "mine" {
		t.Fatalf("bob changed alice's entry: %+v", es)
	}
}

func hasKey(p []store.AccountChange, k store.MailboxID) bool {
	for _, c := range p {
		if c.ID == k {
			return true
		}
	}
	return false
}
