package pgstore

import (
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestSharingStampsUpgrade: a database at schema version 14 holding an
// ACL entry and an access key gets the stamps; both stay, with stamp 0
// (any replicated change beats them), and a change made after takes a
// real stamp.
func TestSharingStampsUpgrade(t *testing.T) {
	dsn, conn := databaseAt(t, 14)
	var uid, mid int64
	if err := conn.QueryRow(ctx, `INSERT INTO users (name) VALUES ('alice') RETURNING id`).Scan(&uid); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `INSERT INTO mailboxes (user_id, name, uidvalidity, uidnext, highestmodseq, guid)
		VALUES ($1, 'INBOX', 1, 1, 1, 'Mtest') RETURNING id`, uid).Scan(&mid); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO acl (user_id, mailbox_id, identifier, rights) VALUES ($1, $2, 'bob', 'lr')`, uid, mid); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO access_keys (user_id, mailbox_id, key) VALUES ($1, $2, '\x0102')`, uid, mid); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, dsn, Options{NoListen: true})
	h, err := s.OpenACL(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rs, err := h.(store.ACLReplica).ACLRecords(ctx)
	if err != nil || len(rs) != 1 || rs[0].Rights != "lr" || rs[0].Stamp != 0 || rs[0].Mailbox != "Mtest" {
		t.Fatalf("ACL records after the upgrade: %+v, %v", rs, err)
	}
	k, err := s.OpenAccessKeys(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	krs, err := k.(store.AccessKeyReplica).AccessKeyRecords(ctx)
	if err != nil || len(krs) != 1 || string(krs[0].Key) != "\x01\x02" || krs[0].Stamp != 0 {
		t.Fatalf("key records after the upgrade: %+v, %v", krs, err)
	}
	if err := h.SetACL(ctx, store.MailboxID(mid), "bob", ""); err != nil {
		t.Fatal(err)
	}
	rs, _ = h.(store.ACLReplica).ACLRecords(ctx)
	if len(rs) != 1 || rs[0].Rights != "" || rs[0].Stamp == 0 {
		t.Fatalf("ACL records after a removal: %+v", rs)
	}
}
