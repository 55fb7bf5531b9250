package pgstore

import (
	"testing"

	"github.com/tidemark-mail/tidemark/internal/auth"
)

// TestAccountPeersUpgradeFromV18: a database at schema version 18 gets
// the tables of what each replication peer held (of the logins, and of
// each user's ACL entries and access keys); the logins and their
// tombstones stay, and a tombstone every known peer holds can be pruned.
func TestAccountPeersUpgradeFromV18(t *testing.T) {
	dsn, conn := databaseAt(t, 18)
	if _, err := conn.Exec(ctx, `INSERT INTO account_tombstones (name, stamp) VALUES ('gone', 5)`); err != nil {
		t.Fatal(err)
	}
	openTest(t, dsn, Options{NoListen: true})
	var v int
	if err := conn.QueryRow(ctx, `SELECT max(version) FROM tidemark_schema`).Scan(&v); err != nil || v != SchemaVersion || v < 19 {
		t.Fatalf("schema version %d (SchemaVersion %d), %v", v, SchemaVersion, err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM sharing_peers`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("sharing_peers: %d rows, %v", n, err)
	}
	opts := auth.Options{Hash: auth.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, FailureDelay: -1}
	a, err := auth.OpenPostgresAccounts(ctx, dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	gone := auth.Record{Name: "gone", Stamp: 5, Deleted: true}
	if err := a.SetPeerRecords(ctx, "peer", []auth.Record{{Name: "gone", Stamp: 4}}); err != nil {
		t.Fatal(err)
	}
	if n, err := a.PruneTombstones(ctx, 10); err != nil || n != 0 {
		t.Fatalf("pruned while the peer holds the account: %d %v", n, err)
	}
	if err := a.SetPeerRecords(ctx, "peer", []auth.Record{gone}); err != nil {
		t.Fatal(err)
	}
	if n, err := a.PruneTombstones(ctx, 10); err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	var rows int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM account_peers WHERE name = 'gone'`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("%d recorded rows of the pruned name, %v", rows, err)
	}
}
