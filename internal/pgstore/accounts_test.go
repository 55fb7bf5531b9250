package pgstore

import (
	"net/netip"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/auth"
)

// TestAccountsUpgradeFromV16: a database at schema version 16 (mail, no
// accounts) gets the account tables; a login added through one handle
// is checked by another, and a delete refuses it there.
func TestAccountsUpgradeFromV16(t *testing.T) {
	dsn, conn := databaseAt(t, 16)
	s := openTest(t, dsn, Options{NoListen: true})
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := conn.QueryRow(ctx, `SELECT max(version) FROM tidemark_schema`).Scan(&v); err != nil || v != SchemaVersion || v < 17 {
		t.Fatalf("schema version %d (SchemaVersion %d), %v", v, SchemaVersion, err)
	}
	opts := auth.Options{Hash: auth.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, FailureDelay: -1}
	open := func() *auth.Accounts {
		a, err := auth.OpenPostgresAccounts(ctx, dsn, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}
	one, two := open(), open()
	if err := one.Add("alice", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := two.Authenticate(ctx, "alice", "pw", netip.Addr{}); err != nil {
		t.Fatalf("login through the other handle: %v", err)
	}
	if err := one.Delete("alice"); err != nil {
		t.Fatal(err)
	}
	if err := two.Authenticate(ctx, "alice", "pw", netip.Addr{}); err == nil {
		t.Fatal("deleted login still accepted through the other handle")
	}
	var tombstones int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM account_tombstones WHERE name = 'alice'`).Scan(&tombstones); err != nil || tombstones != 1 {
		t.Fatalf("%d tombstones, %v", tombstones, err)
	}
}
