package pgstore

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestAccessKeysUpgradeFromV13: a database at schema version 13 gets the
// access key table; a mailbox that existed before takes a key, which is
// kept, and a deleted mailbox's key goes with it.
func TestAccessKeysUpgradeFromV13(t *testing.T) {
	dsn, conn := databaseAt(t, 13)
	s := openTest(t, dsn, Options{NoListen: true})
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := conn.QueryRow(ctx, `SELECT max(version) FROM tidemark_schema`).Scan(&v); err != nil || v != SchemaVersion {
		t.Fatalf("schema version %d (SchemaVersion %d), %v", v, SchemaVersion, err)
	}
	a, err := s.Open(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	box, err := a.CreateMailbox(ctx, "Drafts", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := s.OpenAccessKeys(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	key, err := ks.AccessKey(ctx, box.ID, true)
	if err != nil || len(key) != store.AccessKeySize {
		t.Fatalf("key: %x, %v", key, err)
	}
	if err := a.DeleteMailbox(ctx, "Drafts"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM access_keys`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d keys left after the mailbox was deleted, %v", n, err)
	}
}

// databaseAt returns a fresh database brought to schema version n, and a
// connection to it (closed when the test ends).
func databaseAt(t *testing.T, n int) (string, *pgx.Conn) {
	t.Helper()
	dsn := pgtest.EmptyDSN(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	if _, err := conn.Exec(ctx, `CREATE TABLE tidemark_schema (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for v := 0; v < n; v++ {
		if _, err := conn.Exec(ctx, migrations[v]); err != nil {
			t.Fatalf("version %d: %v", v+1, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO tidemark_schema (version) VALUES ($1)`, v+1); err != nil {
			t.Fatal(err)
		}
	}
	return dsn, conn
}
