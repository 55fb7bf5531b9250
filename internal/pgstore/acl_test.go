package pgstore

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/pgtest"
)

// TestUpgradeToACL: a database one schema version short of the acl table
// (version 12; the access keys of version 14 go too), holding mail, gains it when opened; the mail
// stays and lists can be set and found.
func TestUpgradeToACL(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := openTest(t, dsn, Options{NoListen: true})
	for _, u := range []string{"alice", "bob"} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := s.Open(ctx, "alice")
	inbox, _ := a.Mailbox(ctx, "INBOX")
	mustAppend(t, a, inbox.ID, "Subject: kept\r\n\r\nkept\r\n")
	a.Close()
	s.Close()

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range append(undoTextTables, []string{
		`DROP TRIGGER acl_grantee_deleted ON users`,
		`DROP FUNCTION acl_grantee_deleted`,
		`DROP TRIGGER acl_mailbox_deleted ON mailboxes`,
		`DROP FUNCTION acl_mailbox_deleted`,
		`DROP TABLE acl`,
		`DROP TABLE access_keys`,
		`DROP FUNCTION access_keys_mailbox_deleted CASCADE`,
		`DROP TABLE accounts, account_tombstones, account_clock`,
		`DELETE FROM tidemark_schema WHERE version >= 13`,
	}...) {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	s = openTest(t, dsn, Options{NoListen: true})
	var v int
	if err := conn.QueryRow(ctx, `SELECT max(version) FROM tidemark_schema`).Scan(&v); err != nil || v != SchemaVersion {
		t.Fatalf("version %d, %v", v, err)
	}
	h, err := s.OpenACL(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.SetACL(ctx, inbox.ID, "bob", "lr"); err != nil {
		t.Fatal(err)
	}
	gs, err := s.Grants(ctx, []string{"bob"})
	if err != nil || len(gs) != 1 || gs[0].Owner != "alice" || gs[0].Rights != "lr" {
		t.Fatalf("grants %+v, %v", gs, err)
	}
	a, _ = s.Open(ctx, "alice")
	defer a.Close()
	if st, err := a.Status(ctx, inbox.ID); err != nil || st.Messages != 1 {
		t.Fatalf("status %+v, %v", st, err)
	}
}
