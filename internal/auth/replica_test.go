package auth

import (
	"database/sql"
	"errors"
	"net/url"
	"path/filepath"
	"testing"
	"time"
)

// exchange gives each side the other's records, as a sync does.
func exchange(t *testing.T, a, b *Accounts) {
	t.Helper()
	ra, err := a.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, rb); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Apply(ctx, ra); err != nil {
		t.Fatal(err)
	}
}

func mustLogin(t *testing.T, a *Accounts, name, pw string, want error) {
	t.Helper()
	if err := a.Authenticate(ctx, name, pw, peer1); !errors.Is(err, want) {
		t.Fatalf("login %s/%s: got %v, want %v", name, pw, err, want)
	}
}

func TestRecordsReplicate(t *testing.T) { onBoth(t, testRecordsReplicate) }

func testRecordsReplicate(t *testing.T) {
	a := openTest(t, t.TempDir(), testOptions())
	b := openTest(t, t.TempDir(), testOptions())
	if err := a.Add("alice", "one"); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
	mustLogin(t, b, "alice", "one", nil)

	if err := a.SetPassword("alice", "two"); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
	mustLogin(t, b, "alice", "one", ErrAuthFailed)
	mustLogin(t, b, "alice", "two", nil)

	// A delete on B beats the older record A still sends.
	before, _ := a.Records(ctx)
	if err := b.Delete("alice"); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Apply(ctx, before); err != nil || n != 0 {
		t.Fatalf("stale record applied over a tombstone: %d %v", n, err)
	}
	exchange(t, a, b)
	for _, s := range []*Accounts{a, b} {
		if ok, _ := s.Exists("alice"); ok {
			t.Fatal("deleted account came back")
		}
	}
	// Created again after the delete: the new record wins everywhere.
	if err := a.Add("alice", "three"); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
	mustLogin(t, b, "alice", "three", nil)
	// Applying the same records again changes nothing.
	ra, _ := a.Records(ctx)
	if n, err := b.Apply(ctx, ra); err != nil || n != 0 {
		t.Fatalf("reapplied: %d %v", n, err)
	}
	if _, err := b.Apply(ctx, []Record{{Name: "Bad Name", Stamp: 1, Deleted: true}}); err == nil {
		t.Fatal("invalid name applied")
	}
	if _, err := b.Apply(ctx, []Record{{Name: "eve", Stamp: 1, Hash: "plain"}}); err == nil {
		t.Fatal("malformed hash applied")
	}
}

// TestRecordsConcurrent: changes made on both sides while apart settle on
// the same record on both, by stamp, then deletion, then hash; a change
// made after seeing another wins even when its clock is behind.
func TestRecordsConcurrent(t *testing.T) { onBoth(t, testRecordsConcurrent) }

func testRecordsConcurrent(t *testing.T) {
	fixed := time.Unix(1_700_000_000, 0)
	oa, ob := testOptions(), testOptions()
	oa.Now = func() time.Time { return fixed }
	ob.Now = func() time.Time { return fixed }
	a := openTest(t, t.TempDir(), oa)
	b := openTest(t, t.TempDir(), ob)
	if err := a.Add("bob", "base"); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
	// Same clock on both, one change each: equal stamps, the tie-break
	// decides, and both agree.
	if err := a.SetPassword("bob", "from-a"); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPassword("bob", "from-b"); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
	ra, _ := a.Records(ctx)
	rb, _ := b.Records(ctx)
	if len(ra) != 1 || len(rb) != 1 || ra[0] != rb[0] {
		t.Fatalf("did not converge: %+v vs %+v", ra, rb)
	}
	// Delete against a password change at the same stamp: the delete wins.
	if err := a.SetPassword("bob", "again"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete("bob"); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
	for _, s := range []*Accounts{a, b} {
		if ok, _ := s.Exists("bob"); ok {
			t.Fatal("delete lost to a concurrent change at the same stamp")
		}
	}
	// B's clock runs an hour behind; its change, made after seeing A's,
	// still wins.
	if err := a.Add("carol", "a-side"); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
	ob.Now = func() time.Time { return fixed.Add(-time.Hour) }
	b.opts.Now = ob.Now
	if err := b.SetPassword("carol", "b-later"); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b)
	mustLogin(t, a, "carol", "b-later", nil)
}

// TestAccountsSchemaUpgrade opens a version 1 database: its accounts keep
// working and take their change time as their stamp.
func TestAccountsSchemaUpgrade(t *testing.T) {
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
	for _, s := range []string{schemaV1, `PRAGMA user_version = 1`} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO accounts VALUES ('dan', ?, 100, 200)`, rec); err != nil {
		t.Fatal(err)
	}
	db.Close()
	a := openTest(t, dir, testOptions())
	mustLogin(t, a, "dan", "old", nil)
	rs, err := a.Records(ctx)
	if err != nil || len(rs) != 1 || rs[0].Stamp != 200e9 || rs[0].Created != 100 {
		t.Fatalf("records after upgrade: %+v %v", rs, err)
	}
	if c, err := a.Clock(ctx); err != nil || c != 200e9 {
		t.Fatalf("clock after upgrade: %d %v", c, err)
	}
	if err := a.SetPassword("dan", "new"); err != nil {
		t.Fatal(err)
	}
	if c, _ := a.Clock(ctx); c <= 200e9 {
		t.Fatalf("clock did not move: %d", c)
	}
}
