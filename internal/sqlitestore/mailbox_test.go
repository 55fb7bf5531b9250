package sqlitestore

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func names(t *testing.T, a *Account) []string {
	t.Helper()
	ms, err := a.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestMailboxNames(t *testing.T) {
	_, a := newAccount(t)
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

func TestDeleteAndRecreate(t *testing.T) {
	s, a := newAccount(t)
	if err := a.DeleteMailbox(ctx, "inbox"); !isErr(err, store.ErrCannot) {
		t.Fatalf("delete INBOX: %v", err)
	}
	if err := a.DeleteMailbox(ctx, "nope"); !isErr(err, store.ErrNoMailbox) {
		t.Fatalf("delete missing: %v", err)
	}
	m1, _ := a.CreateMailbox(ctx, "p/c", store.CreateOptions{})
	p1 := mustMailbox(t, a, "p")
	appendN(t, a, p1.ID, 3, store.Flags{})
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
	assertClean(t, s, "alice")
}

func TestRename(t *testing.T) {
	s, a := newAccount(t)
	src, _ := a.CreateMailbox(ctx, "a/b", store.CreateOptions{})
	a.CreateMailbox(ctx, "a/b/c", store.CreateOptions{})
	a.CreateMailbox(ctx, "ab", store.CreateOptions{})
	appendN(t, a, src.ID, 2, store.Flags{})
	if err := a.RenameMailbox(ctx, "a/b", "x/y"); err != nil {
		t.Fatal(err)
	}
	if got := names(t, a); !slices.Equal(got, []string{"INBOX", "a", "ab", "x", "x/y", "x/y/c"}) {
		t.Fatalf("after rename %q", got)
	}
	moved := mustMailbox(t, a, "x/y")
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
	// INBOX: messages move to the new mailbox, INBOX stays, empty.
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 3, store.Flags{System: store.FlagSeen})
	if err := a.RenameMailbox(ctx, "INBOX", "old/inbox"); err != nil {
		t.Fatal(err)
	}
	st, _ := a.Status(ctx, inbox.ID)
	if st.Messages != 0 || st.UIDNext != 4 || st.HighestModSeq <= inbox.HighestModSeq {
		t.Fatalf("INBOX after rename %+v", st)
	}
	old := mustMailbox(t, a, "old/inbox")
	ost, _ := a.Status(ctx, old.ID)
	if ost.Messages != 3 || ost.UIDNext != 4 || ost.UIDValidity == inbox.UIDValidity {
		t.Fatalf("renamed inbox %+v", ost)
	}
	ch, _ := a.ChangesSince(ctx, inbox.ID, inbox.HighestModSeq+1)
	if ch.Vanished.String() != "1:3" {
		t.Fatalf("INBOX vanished %v", ch.Vanished)
	}
	assertClean(t, s, "alice")
}

func TestSubscriptions(t *testing.T) {
	_, a := newAccount(t)
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
	if !mustMailbox(t, a, "Sent").Subscribed {
		t.Fatal("Sent not marked subscribed")
	}
}

func TestUsers(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	for _, bad := range []string{"", "../x", "a/b", ".hidden", "-x", "a b", "é"} {
		if err := s.CreateUser(ctx, bad); !isErr(err, store.ErrCannot) {
			t.Errorf("CreateUser(%q) = %v", bad, err)
		}
		if _, err := s.Open(ctx, bad); !isErr(err, store.ErrNoUser) {
			t.Errorf("Open(%q) = %v", bad, err)
		}
	}
	if err := s.CreateUser(ctx, "Carol@Example.org"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, "carol@example.org"); !isErr(err, store.ErrUserExists) {
		t.Fatalf("duplicate: %v", err)
	}
	s.CreateUser(ctx, "bob")
	if us, _ := s.Users(ctx); !slices.Equal(us, []string{"bob", "carol@example.org"}) {
		t.Fatalf("users %q", us)
	}
	if _, err := s.Open(ctx, "nobody"); !isErr(err, store.ErrNoUser) {
		t.Fatalf("open nobody: %v", err)
	}
	// Two handles share one database; deletion waits for both to close.
	a1, err := s.Open(ctx, "CAROL@example.org")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := s.Open(ctx, "carol@example.org")
	if a1.(*Account).u != a2.(*Account).u || a1.User() != "carol@example.org" {
		t.Fatal("handles do not share the database")
	}
	a1.Close()
	a1.Close()
	if err := s.DeleteUser(ctx, "carol@example.org"); !isErr(err, store.ErrCannot) {
		t.Fatalf("delete while open: %v", err)
	}
	if _, err := a2.Mailboxes(ctx); err != nil {
		t.Fatalf("second handle broken after first closed: %v", err)
	}
	a2.Close()
	if err := s.DeleteUser(ctx, "carol@example.org"); err != nil {
		t.Fatal(err)
	}
	if us, _ := s.Users(ctx); !slices.Equal(us, []string{"bob"}) {
		t.Fatalf("users after delete %q", us)
	}
	if err := s.DeleteUser(ctx, "carol@example.org"); !isErr(err, store.ErrNoUser) {
		t.Fatalf("delete twice: %v", err)
	}
	es, _ := os.ReadDir(filepath.Join(dir, "users"))
	if len(es) != 1 {
		t.Fatalf("leftovers in users dir: %d entries", len(es))
	}
}

func TestHubPublishesAfterCommit(t *testing.T) {
	s, a := newAccount(t)
	inbox := mustMailbox(t, a, "INBOX")
	w := s.Hub().Watch("alice", inbox.ID)
	defer w.Close()
	appendN(t, a, inbox.ID, 1, store.Flags{})
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
