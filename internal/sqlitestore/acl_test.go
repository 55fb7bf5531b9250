package sqlitestore

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// undoV10 turns a current database back into schema version 9.
var undoV10 = append(slices.Clone(undoV11),
	`DROP TRIGGER acl_mailbox_deleted`,
	`DROP TABLE acl`,
)

// TestMigrateV9 converts a version 9 database: the acl table appears and
// works, and mail stays.
func TestMigrateV9(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	a := aliceAccount(t, s)
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 2, store.Flags{})
	a.Close()
	s.Close()
	downgradeAlice(t, dir, append(undoV10, `PRAGMA user_version = 9`)...)

	s = openStore(t, dir, Options{})
	if err := s.CreateUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	h, err := s.OpenACL(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.SetACL(ctx, inbox.ID, "bob", "lr"); err != nil {
		t.Fatal(err)
	}
	es, err := h.MailboxACL(ctx, inbox.ID)
	if err != nil || len(es) != 1 || es[0] != (store.ACLEntry{Identifier: "bob", Rights: "lr"}) {
		t.Fatalf("%+v, %v", es, err)
	}
	a2, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	if st, _ := a2.Status(ctx, inbox.ID); st.Messages != 2 {
		t.Fatalf("%d messages after conversion", st.Messages)
	}
}

// TestACLMarkers checks the index of markers: made with the first entry
// for an identifier, kept while a removed entry's row is, and gone with a deleted grantee,
// whose entries a new user of the same name does not inherit.
func TestACLMarkers(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	for _, u := range []string{"alice", "bob"} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	h, err := s.OpenACL(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	a, _ := s.openAccount(ctx, "alice")
	defer a.Close()
	inbox := mustMailbox(t, a, "INBOX")
	marker := filepath.Join(dir, "shared", "bob", "alice")
	if err := h.SetACL(ctx, inbox.ID, "bob", "lr"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no marker after a grant: %v", err)
	}
	if err := h.SetACL(ctx, inbox.ID, "bob", ""); err != nil {
		t.Fatal(err)
	}
	// The removed entry keeps its row (it replicates), and so its marker.
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no marker after the last entry was removed: %v", err)
	}
	if gs, err := s.Grants(ctx, []string{"bob"}); err != nil || len(gs) != 0 {
		t.Fatalf("grants after the removal: %+v, %v", gs, err)
	}
	if err := h.SetACL(ctx, inbox.ID, "bob", "lr"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	gs, err := s.Grants(ctx, []string{"bob"})
	if err != nil || len(gs) != 0 {
		t.Fatalf("a new bob inherits %+v, %v", gs, err)
	}
	// A grant to the new bob clears the old entries first.
	work, err := a.CreateMailbox(ctx, "Work", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SetACL(ctx, work.ID, "bob", "l"); err != nil {
		t.Fatal(err)
	}
	gs, err = s.Grants(ctx, []string{"bob"})
	if err != nil || len(gs) != 1 || gs[0].Mailbox != work.ID {
		t.Fatalf("grants %+v, %v", gs, err)
	}
}

// TestRestoreMarkers: restoring a user from backup into a data directory
// whose markers are gone brings the user's lists back into effect for
// users who exist, and drops the entries naming a user deleted since.
func TestRestoreMarkers(t *testing.T) {
	dir, backup := t.TempDir(), t.TempDir()
	s := openStore(t, dir, Options{})
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	h, err := s.OpenACL(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.openAccount(ctx, "alice")
	inbox := mustMailbox(t, a, "INBOX")
	a.Close()
	for _, u := range []string{"bob", "carol"} {
		if err := h.SetACL(ctx, inbox.ID, u, "lr"); err != nil {
			t.Fatal(err)
		}
	}
	h.Close()
	if err := s.DeleteUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := BackupUser(ctx, dir, "alice", backup); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "shared")); err != nil {
		t.Fatal(err)
	}
	if err := RestoreUser(ctx, backup, dir, "alice"); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, Options{})
	gs, err := s.Grants(ctx, []string{"bob"})
	if err != nil || len(gs) != 1 || gs[0].Owner != "alice" || gs[0].Mailbox != inbox.ID {
		t.Fatalf("bob's grants after the restore: %+v, %v", gs, err)
	}
	if err := s.CreateUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if gs, err := s.Grants(ctx, []string{"carol"}); err != nil || len(gs) != 0 {
		t.Fatalf("a new carol inherits %+v, %v", gs, err)
	}
	h, _ = s.OpenACL(ctx, "alice")
	defer h.Close()
	if es, _ := h.MailboxACL(ctx, inbox.ID); len(es) != 1 || es[0].Identifier != "bob" {
		t.Fatalf("entries after the restore: %+v", es)
	}
}
