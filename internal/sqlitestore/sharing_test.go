package sqlitestore

import (
	"bytes"
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// undoV13 turns a current database back into schema version 12.
var undoV13 = append(slices.Clone(undoV14), `ALTER TABLE acl DROP COLUMN stamp`, `ALTER TABLE access_keys DROP COLUMN stamp`)

// TestMigrateV12Sharing converts a version 12 database: its ACL entries
// and access keys stay, with stamp 0 (any replicated change beats them),
// and a change made after takes a real stamp.
func TestMigrateV12Sharing(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	a := aliceAccount(t, s)
	inbox := mustMailbox(t, a, "INBOX")
	h, err := s.OpenACL(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SetACL(ctx, inbox.ID, "bob", "lr"); err != nil {
		t.Fatal(err)
	}
	h.Close()
	k, err := s.OpenAccessKeys(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	key, err := k.AccessKey(ctx, inbox.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	k.Close()
	a.Close()
	s.Close()
	downgradeAlice(t, dir, append(undoV13, `PRAGMA user_version = 12`)...)

	s = openStore(t, dir, Options{})
	h, err = s.OpenACL(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rs, err := h.(store.ACLReplica).ACLRecords(ctx)
	if err != nil || len(rs) != 1 || rs[0].Rights != "lr" || rs[0].Stamp != 0 || rs[0].Mailbox != inbox.GUID {
		t.Fatalf("ACL records after conversion: %+v, %v", rs, err)
	}
	k, err = s.OpenAccessKeys(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	krs, err := k.(store.AccessKeyReplica).AccessKeyRecords(ctx)
	if err != nil || len(krs) != 1 || !bytes.Equal(krs[0].Key, key) || krs[0].Stamp != 0 {
		t.Fatalf("key records after conversion: %+v, %v", krs, err)
	}
	if err := h.SetACL(ctx, inbox.ID, "bob", ""); err != nil {
		t.Fatal(err)
	}
	rs, _ = h.(store.ACLReplica).ACLRecords(ctx)
	if len(rs) != 1 || rs[0].Rights != "" || rs[0].Stamp == 0 {
		t.Fatalf("ACL records after a removal: %+v", rs)
	}
	if es, err := h.MailboxACL(ctx, inbox.ID); err != nil || len(es) != 0 {
		t.Fatalf("entries after the removal: %+v, %v", es, err)
	}
}
