package storetest

import (
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func testMailboxNames(t *testing.T, be Backend) {
	_, a := be.newAccount(t)
	for _, bad := range []string{"", "a//b", "/a", "a/", ".", "a/../b", "a/./b", "x\x01y", "a*", "b%", "\xff", "a\x7f"} {
		if _, err := a.CreateMailbox(ctx, bad, store.CreateOptions{}); !isErr(err, store.ErrInvalidName) {
			t.Errorf("CreateMailbox(%q) = %v", bad, err)
		}
	}
	if _, err := a.CreateMailbox(ctx, "inbox", store.CreateOptions{}); !isErr(err, store.ErrMailboxExists) {
		t.Errorf("create inbox: %v", err)
	}
	if _, err := a.CreateMailbox(ctx, "Inbox/Sub", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateMailbox(ctx, "a/b/c", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateMailbox(ctx, "Ünïcødé", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateMailbox(ctx, "x", store.CreateOptions{SpecialUse: `\Bogus`}); !isErr(err, store.ErrCannot) {
		t.Errorf("bad special-use: %v", err)
	}
	if got, want := names(t, a), []string{"INBOX", "INBOX/Sub", "a", "a/b", "a/b/c", "Ünïcødé"}; !slices.Equal(got, want) {
		t.Fatalf("mailboxes %q, want %q", got, want)
	}
	if _, err := a.Mailbox(ctx, "nope"); !isErr(err, store.ErrNoMailbox) {
		t.Errorf("Mailbox(nope) = %v", err)
	}
}

func testDeleteAndRecreate(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	if err := a.DeleteMailbox(ctx, "inbox"); !isErr(err, store.ErrCannot) {
		t.Fatalf("delete INBOX: %v", err)
	}
	if err := a.DeleteMailbox(ctx, "nope"); !isErr(err, store.ErrNoMailbox) {
		t.Fatalf("delete missing: %v", err)
	}
	m1, _ := a.CreateMailbox(ctx, "p/c", store.CreateOptions{})
	p1 := MustMailbox(t, a, "p")
	AppendN(t, a, p1.ID, 3, store.Flags{})
	if err := a.DeleteMailbox(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if got := names(t, a); !slices.Equal(got, []string{"INBOX", "p/c"}) {
		t.Fatalf("children must survive: %q", got)
	}
	p2, err := a.CreateMailbox(ctx, "p", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p2.ID == p1.ID || p2.UIDValidity <= p1.UIDValidity || p2.UIDValidity <= m1.UIDValidity {
		t.Fatalf("recreated %+v after %+v", p2, p1)
	}
	AssertClean(t, s, "alice")
}

func testRename(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	src, _ := a.CreateMailbox(ctx, "a/b", store.CreateOptions{})
	a.CreateMailbox(ctx, "a/b/c", store.CreateOptions{})
	a.CreateMailbox(ctx, "ab", store.CreateOptions{})
	AppendN(t, a, src.ID, 2, store.Flags{})
	if err := a.RenameMailbox(ctx, "a/b", "x/y"); err != nil {
		t.Fatal(err)
	}
	if got := names(t, a); !slices.Equal(got, []string{"INBOX", "a", "ab", "x", "x/y", "x/y/c"}) {
		t.Fatalf("after rename %q", got)
	}
	moved := MustMailbox(t, a, "x/y")
	if moved.ID != src.ID || moved.UIDValidity != src.UIDValidity {
		t.Fatalf("rename changed identity: %+v vs %+v", moved, src)
	}
	for _, c := range []struct {
		from, to string
		want     error
	}{
		{"nope", "z", store.ErrNoMailbox},
		{"x", "ab", store.ErrMailboxExists},
		{"x", "x/y/z", store.ErrCannot},
		{"x", "INBOX", store.ErrMailboxExists},
		{"x", "bad//name", store.ErrInvalidName},
	} {
		if err := a.RenameMailbox(ctx, c.from, c.to); !isErr(err, c.want) {
			t.Errorf("rename %q→%q: %v, want %v", c.from, c.to, err, c.want)
		}
	}
	// A parent named beyond ASCII takes its children along too (RFC 9051
	// 6.3.6); names are compared by their bytes.
	if _, err := a.CreateMailbox(ctx, "Ärger/Notizen", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := a.RenameMailbox(ctx, "Ärger", "Ärgernis"); err != nil {
		t.Fatal(err)
	}
	if got := names(t, a); !slices.Contains(got, "Ärgernis/Notizen") || slices.Contains(got, "Ärger/Notizen") {
		t.Fatalf("after renaming a non-ASCII parent %q", got)
	}
	// INBOX: messages move to the new mailbox, INBOX stays, empty.
	inbox := MustMailbox(t, a, "INBOX")
	AppendN(t, a, inbox.ID, 3, store.Flags{System: store.FlagSeen})
	if err := a.RenameMailbox(ctx, "INBOX", "old/inbox"); err != nil {
		t.Fatal(err)
	}
	st, _ := a.Status(ctx, inbox.ID)
	if st.Messages != 0 || st.UIDNext != 4 || st.HighestModSeq <= inbox.HighestModSeq {
		t.Fatalf("INBOX after rename %+v", st)
	}
	old := MustMailbox(t, a, "old/inbox")
	ost, _ := a.Status(ctx, old.ID)
	if ost.Messages != 3 || ost.UIDNext != 4 || ost.UIDValidity == inbox.UIDValidity {
		t.Fatalf("renamed inbox %+v", ost)
	}
	ch, _ := a.ChangesSince(ctx, inbox.ID, inbox.HighestModSeq+1)
	if ch.Vanished.String() != "1:3" {
		t.Fatalf("INBOX vanished %v", ch.Vanished)
	}
	AssertClean(t, s, "alice")
}

func testSubscriptions(t *testing.T, be Backend) {
	_, a := be.newAccount(t)
	a.CreateMailbox(ctx, "Sent", store.CreateOptions{})
	for _, n := range []string{"Sent", "Ghost", "inbox", "Sent"} {
		if err := a.SetSubscribed(ctx, n, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SetSubscribed(ctx, "a//b", true); !isErr(err, store.ErrInvalidName) {
		t.Fatalf("bad name: %v", err)
	}
	a.SetSubscribed(ctx, "Ghost", false)
	subs, _ := a.Subscriptions(ctx)
	if !slices.Equal(subs, []string{"INBOX", "Sent"}) {
		t.Fatalf("subscriptions %q", subs)
	}
	if !MustMailbox(t, a, "Sent").Subscribed {
		t.Fatal("Sent not marked subscribed")
	}
}

func testHubPublishesAfterCommit(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	inbox := MustMailbox(t, a, "INBOX")
	w := s.Hub().Watch("alice", inbox.ID)
	defer w.Close()
	AppendN(t, a, inbox.ID, 1, store.Flags{})
	select {
	case <-w.C:
	default:
		t.Fatal("no notification after append")
	}
	// A no-op publishes nothing.
	a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 50, Stop: 60}})
	select {
	case <-w.C:
		t.Fatal("notification for a no-op")
	default:
	}
}
