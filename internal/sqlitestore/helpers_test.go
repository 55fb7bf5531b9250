package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
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

func mustMailbox(t testing.TB, a *Account, name string) store.MailboxInfo {
	t.Helper()
	m, err := a.Mailbox(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testMessage(i int, extra string) string {
	return fmt.Sprintf("From: a@example.org\r\nTo: b@example.org\r\nSubject: message %d\r\nMessage-ID: <m%d@example.org>\r\n%s\r\nbody %d\r\n", i, i, extra, i)
}

func appendN(t testing.TB, a *Account, id store.MailboxID, n int, flags store.Flags) store.AppendResult {
	t.Helper()
	var msgs []store.NewMessage
	for i := 0; i < n; i++ {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(testMessage(i, "")), Flags: flags})
	}
	res, err := a.Append(ctx, id, msgs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func assertClean(t testing.TB, s *Store, user string) {
	t.Helper()
	ps, err := s.Check(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		t.Error("check:", p)
	}
	if len(ps) > 0 {
		t.FailNow()
	}
}

func assertErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

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
