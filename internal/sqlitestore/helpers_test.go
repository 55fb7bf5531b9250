package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store/storetest"
)

var ctx = context.Background()

func openStore(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newAccount returns a fresh store in a temp dir with user "alice" open.
func newAccount(t testing.TB) (*Store, *Account) {
	t.Helper()
	return newAccountWith(t, Options{})
}

// newAccountWith is newAccount with the given options.
func newAccountWith(t testing.TB, opts Options) (*Store, *Account) {
	t.Helper()
	s := openStore(t, t.TempDir(), opts)
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	a, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return s, a
}

// The account helpers are the shared suite's.
var (
	mustMailbox = storetest.MustMailbox
	testMessage = storetest.MessageText
	appendN     = storetest.AppendN
	assertClean = storetest.AssertClean
	assertErr   = storetest.AssertErr
)

func isErr(err, want error) bool { return errors.Is(err, want) }

// countBodies returns the number of bodies stored inline.
func countBodies(t testing.TB, a *Account) int {
	t.Helper()
	var n int
	if err := a.u.r.QueryRowContext(ctx, `SELECT count(*) FROM bodies`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// aliceAccount gives alice her mail store in s and opens it.
func aliceAccount(t testing.TB, s *Store) *Account {
	t.Helper()
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	a, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// downgradeAlice runs queries on alice's database in dir, the store being
// closed: the upgrade tests undo the schema to an older version with them
// (the last sets user_version), then reopen the store to upgrade it.
func downgradeAlice(t testing.TB, dir string, queries ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(filepath.Join(dir, "users", "alice", "meta.db"), false))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range queries {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
}
