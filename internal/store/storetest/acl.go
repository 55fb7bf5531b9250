package storetest

import (
	"errors"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func openACL(t *testing.T, s store.Store, user string) (store.ACLStore, store.ACL) {
	t.Helper()
	as, ok := s.(store.ACLStore)
	if !ok {
		t.Skip("backend keeps no access control lists")
	}
	h, err := as.OpenACL(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return as, h
}

// testACL: entries set, replaced and removed; found by Grants across
// users and only for the identifiers asked; kept by RENAME, dropped by
// DELETE; a deleted grantee's entries not inherited by a new user of the
// same name.
func testACL(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	as, h := openACL(t, s, "alice")
	for _, u := range []string{"bob", "carol"} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	inbox := MustMailbox(t, a, "INBOX")
	work, err := a.CreateMailbox(ctx, "Work", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	read := func(id store.MailboxID) []store.ACLEntry {
		t.Helper()
		es, err := h.MailboxACL(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	set := func(id store.MailboxID, who, rights string) {
		t.Helper()
		if err := h.SetACL(ctx, id, who, rights); err != nil {
			t.Fatal(err)
		}
	}
	grants := func(ids ...string) []store.ACLGrant {
		t.Helper()
		gs, err := as.Grants(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		return gs
	}
	if es := read(inbox.ID); len(es) != 0 {
		t.Fatalf("new mailbox has entries %+v", es)
	}
	set(work.ID, "carol", "lrs")
	set(work.ID, "bob", "lr")
	set(work.ID, "bob", "lrsw") // replaces
	set(inbox.ID, "anyone", "l")
	want := []store.ACLEntry{{Identifier: "bob", Rights: "lrsw"}, {Identifier: "carol", Rights: "lrs"}}
	if es := read(work.ID); len(es) != 2 || es[0] != want[0] || es[1] != want[1] {
		t.Fatalf("entries %+v, want %+v", es, want)
	}
	gs := grants("bob", "anyone")
	if len(gs) != 2 || gs[0].Owner != "alice" || gs[0].Mailbox != inbox.ID || gs[0].Rights != "l" || gs[0].Identifier != "anyone" ||
		gs[1].Mailbox != work.ID || gs[1].Identifier != "bob" || gs[1].Rights != "lrsw" {
		t.Fatalf("grants %+v", gs)
	}
	if gs := grants("dave"); len(gs) != 0 {
		t.Fatalf("grants for nobody: %+v", gs)
	}
	set(work.ID, "carol", "")
	if es := read(work.ID); len(es) != 1 || es[0].Identifier != "bob" {
		t.Fatalf("after removing carol: %+v", es)
	}
	if gs := grants("carol"); len(gs) != 0 {
		t.Fatalf("carol still granted %+v", gs)
	}

	// RENAME keeps the list (the mailbox keeps its id); DELETE drops it
	// and a mailbox made again under the name starts bare.
	if err := a.RenameMailbox(ctx, "Work", "Projects/Work"); err != nil {
		t.Fatal(err)
	}
	moved := MustMailbox(t, a, "Projects/Work")
	if es := read(moved.ID); len(es) != 1 || es[0] != (store.ACLEntry{Identifier: "bob", Rights: "lrsw"}) {
		t.Fatalf("after rename: %+v", es)
	}
	if err := a.DeleteMailbox(ctx, "Projects/Work"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.MailboxACL(ctx, moved.ID); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("ACL of a deleted mailbox: %v", err)
	}
	if err := h.SetACL(ctx, moved.ID, "bob", "l"); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("SETACL on a deleted mailbox: %v", err)
	}
	again, err := a.CreateMailbox(ctx, "Projects/Work", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if es := read(again.ID); len(es) != 0 {
		t.Fatalf("recreated mailbox has entries %+v", es)
	}
	if gs := grants("bob"); len(gs) != 0 {
		t.Fatalf("grants of a deleted mailbox: %+v", gs)
	}

	// Another user's handle sees its own lists only.
	_, hb := openACL(t, s, "bob")
	if es, err := hb.MailboxACL(ctx, inbox.ID); err == nil && len(es) != 0 {
		t.Fatalf("bob reads alice's entries through his handle: %+v", es)
	}

	// A deleted grantee's entries do not pass to a new user of the name.
	set(inbox.ID, "carol", "lr")
	if err := s.DeleteUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if gs := grants("carol"); len(gs) != 0 {
		t.Fatalf("grants of a deleted user: %+v", gs)
	}
	if err := s.CreateUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if gs := grants("carol"); len(gs) != 0 {
		t.Fatalf("a new carol inherits %+v", gs)
	}
}
