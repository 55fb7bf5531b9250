package auth

import (
	"database/sql"
	"net/url"
	"path/filepath"
	"testing"
	"time"
)

// tombstones returns the names of a's tombstones.
func tombstones(t *testing.T, a *Accounts) []string {
	t.Helper()
	rs, err := a.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		if r.Deleted {
			out = append(out, r.Name)
		}
	}
	return out
}

func TestPruneAccountTombstones(t *testing.T) { onBoth(t, testPruneAccountTombstones) }

// testPruneAccountTombstones: a tombstone goes only once it is at or
// below the bound and every known peer holds it (as recorded at the end
// of their last exchange); a forgotten peer holds nothing back, and the
// recorded copies of a pruned tombstone go with it.
func testPruneAccountTombstones(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	opts := testOptions()
	opts.Now = func() time.Time { return t0 }
	a := openTest(t, t.TempDir(), opts)
	for _, n := range []string{"alice", "bob"} {
		if err := a.Add(n, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Delete("bob"); err != nil {
		t.Fatal(err)
	}
	recs, err := a.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var bob Record
	for _, r := range recs {
		if r.Name == "bob" {
			bob = r
		}
	}
	prune := func(before int64, want int) {
		t.Helper()
		if n, err := a.PruneTombstones(ctx, before); err != nil || n != want {
			t.Fatalf("prune at %d: %d, %v; want %d", before, n, err, want)
		}
	}
	// p1 holds the tombstone, p2 still holds the account.
	if err := a.SetPeerRecords(ctx, "p1", recs); err != nil {
		t.Fatal(err)
	}
	if err := a.SetPeerRecords(ctx, "p2", []Record{{Name: "alice", Stamp: recs[0].Stamp}, {Name: "bob", Stamp: bob.Stamp - 1}}); err != nil {
		t.Fatal(err)
	}
	if got, known, err := a.PeerRecords(ctx, "p1"); err != nil || !known || len(got) != 2 || !got[1].Deleted {
		t.Fatalf("recorded for p1: %+v %v %v", got, known, err)
	}
	prune(bob.Stamp+1e12, 0)
	if got := tombstones(t, a); len(got) != 1 {
		t.Fatalf("tombstones %v", got)
	}
	// Every peer holds it: not above the bound.
	if err := a.SetPeerRecords(ctx, "p2", recs); err != nil {
		t.Fatal(err)
	}
	prune(bob.Stamp-1, 0)
	prune(bob.Stamp, 1)
	if got := tombstones(t, a); len(got) != 0 {
		t.Fatalf("tombstones after pruning %v", got)
	}
	if got, known, _ := a.PeerRecords(ctx, "p1"); !known || len(got) != 1 || got[0].Name != "alice" {
		t.Fatalf("recorded for p1 after pruning: %+v", got)
	}
	// A peer known with no records holds back a later delete; forgotten,
	// it does not.
	if err := a.SetPeerRecords(ctx, "p3", nil); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete("alice"); err != nil {
		t.Fatal(err)
	}
	prune(bob.Stamp+1e12, 0)
	for _, p := range []string{"p1", "p2", "p3"} {
		if err := a.ForgetPeer(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	prune(bob.Stamp+1e12, 1)
}

// TestAccountsSchemaUpgradeV2 opens a version 2 database: the table of
// what peers held appears, and the accounts and tombstones stay.
func TestAccountsSchemaUpgradeV2(t *testing.T) {
	dir := t.TempDir()
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: filepath.Join(dir, DBFile), RawQuery: q.Encode()}).String())
	if err != nil {
		t.Fatal(err)
	}
	rec, err := hashPassword("old", testHash)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{schemaV1, schemaV2, `PRAGMA user_version = 2`,
		`INSERT INTO account_tombstones VALUES ('gone', 5)`} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO accounts VALUES ('dan', ?, 100, 200, 300)`, rec); err != nil {
		t.Fatal(err)
	}
	db.Close()
	a := openTest(t, dir, testOptions())
	mustLogin(t, a, "dan", "old", nil)
	if got := tombstones(t, a); len(got) != 1 || got[0] != "gone" {
		t.Fatalf("tombstones after upgrade: %v", got)
	}
	if _, known, err := a.PeerRecords(ctx, "p"); err != nil || known {
		t.Fatalf("peer known after upgrade: %v %v", known, err)
	}
	// No peer known: a tombstone older than the bound goes.
	if n, err := a.PruneTombstones(ctx, 10); err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	var v int
	if err := a.recs.(sqliteRecords).db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != 3 {
		t.Fatalf("version %d, %v", v, err)
	}
}
