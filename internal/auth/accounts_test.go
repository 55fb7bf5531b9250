package auth

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// testOptions are cheap to hash and do not sleep, so tests run fast; tests
// that exercise a limit set it themselves.
func testOptions() Options {
	return Options{Hash: testHash, FailureDelay: -1, MaxFailuresPerIP: -1, MaxFailuresPerUser: -1}
}

// openTest opens the accounts of dir: in its SQLite file, or, in a
// subtest "postgres" of onBoth, in a PostgreSQL database of their own
// (the same one for the same dir).
func openTest(t testing.TB, dir string, opts Options) *Accounts {
	t.Helper()
	var a *Accounts
	var err error
	if onPostgres(t) {
		a, err = OpenPostgresAccounts(ctx, databaseOf(t, dir), opts)
	} else {
		a, err = OpenAccountsWith(dir, opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

var (
	ctx   = context.Background()
	peer1 = netip.MustParseAddr("192.0.2.1")
	peer2 = netip.MustParseAddr("192.0.2.2")
)

func TestAccountsLifecycle(t *testing.T) { onBoth(t, testAccountsLifecycle) }

func testAccountsLifecycle(t *testing.T) {
	a := openTest(t, t.TempDir(), testOptions())
	if err := a.Add("Alice", "pw-a"); err != nil {
		t.Fatal(err)
	}
	if err := a.Add("bob", "pw-b"); err != nil {
		t.Fatal(err)
	}
	if err := a.Add("ALICE", "other"); !errors.Is(err, ErrExists) {
		t.Errorf("Add of existing name in other case = %v, want ErrExists", err)
	}
	if err := a.Add("a+b", "pw"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Add(a+b) = %v, want ErrInvalidName", err)
	}
	for _, pw := range []string{"", "a\x00b", string(make([]byte, MaxPasswordLen+1))} {
		if err := a.Add("carol", pw); !errors.Is(err, ErrBadPassword) {
			t.Errorf("Add with password %q = %v, want ErrBadPassword", pw, err)
		}
	}
	names, err := a.List()
	if err != nil || !slices.Equal(names, []string{"alice", "bob"}) {
		t.Fatalf("List = %v, %v; want [alice bob]", names, err)
	}
	for name, want := range map[string]bool{"alice": true, "ALICE": true, "carol": false, "a+b": false} {
		if got, err := a.Exists(name); err != nil || got != want {
			t.Errorf("Exists(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if err := a.Authenticate(ctx, "ALICE", "pw-a", peer1); err != nil {
		t.Errorf("login with upper-case name: %v", err)
	}
	if err := a.SetPassword("alice", "pw-a2"); err != nil {
		t.Fatal(err)
	}
	if err := a.Authenticate(ctx, "alice", "pw-a", peer1); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("old password after SetPassword: %v, want ErrAuthFailed", err)
	}
	if err := a.Authenticate(ctx, "alice", "pw-a2", peer1); err != nil {
		t.Errorf("new password: %v", err)
	}
	if err := a.SetPassword("nobody", "x"); !errors.Is(err, ErrNoUser) {
		t.Errorf("SetPassword(nobody) = %v, want ErrNoUser", err)
	}
	if err := a.Delete("bob"); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete("bob"); !errors.Is(err, ErrNoUser) {
		t.Errorf("second Delete = %v, want ErrNoUser", err)
	}
	if err := a.Authenticate(ctx, "bob", "pw-b", peer1); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("login of deleted user: %v, want ErrAuthFailed", err)
	}
	names, _ = a.List()
	if !slices.Equal(names, []string{"alice"}) {
		t.Errorf("List after delete = %v", names)
	}
}

func TestAccountsDurableAcrossReopen(t *testing.T) { onBoth(t, testAccountsDurableAcrossReopen) }

func testAccountsDurableAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	a := openTest(t, dir, testOptions())
	if err := a.Add("dave", "secret"); err != nil {
		t.Fatal(err)
	}
	if err := a.Add("erin", "secret2"); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete("erin"); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if !onPostgres(t) {
		fi, err := os.Stat(filepath.Join(dir, DBFile))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", DBFile, fi.Mode().Perm())
		}
	}

	b := openTest(t, dir, testOptions())
	if err := b.Authenticate(ctx, "dave", "secret", peer1); err != nil {
		t.Errorf("login after reopen: %v", err)
	}
	if ok, _ := b.Exists("erin"); ok {
		t.Error("deleted account back after reopen")
	}
}

// Two handles on one directory stand for the server and `tidemark user`
// running at once: a password changed through one must stop working
// through the other at once, even though the other has it cached.
func TestPasswordChangeSeenByOtherHandle(t *testing.T) {
	onBoth(t, testPasswordChangeSeenByOtherHandle)
}

func testPasswordChangeSeenByOtherHandle(t *testing.T) {
	dir := t.TempDir()
	server := openTest(t, dir, testOptions())
	cli := openTest(t, dir, testOptions())
	if err := cli.Add("frank", "one"); err != nil {
		t.Fatal(err)
	}
	if err := server.Authenticate(ctx, "frank", "one", peer1); err != nil {
		t.Fatal(err)
	}
	if server.cache.len() != 1 {
		t.Fatalf("cache holds %d entries after a login, want 1", server.cache.len())
	}
	if err := cli.SetPassword("frank", "two"); err != nil {
		t.Fatal(err)
	}
	if err := server.Authenticate(ctx, "frank", "one", peer1); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("old password through the caching handle: %v, want ErrAuthFailed", err)
	}
	if err := server.Authenticate(ctx, "frank", "two", peer1); err != nil {
		t.Errorf("new password through the other handle: %v", err)
	}
	if err := cli.Delete("frank"); err != nil {
		t.Fatal(err)
	}
	if err := server.Authenticate(ctx, "frank", "two", peer1); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("deleted account through the caching handle: %v, want ErrAuthFailed", err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenAccountsWith(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.recs.(sqliteRecords).db.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if b, err := OpenAccountsWith(dir, testOptions()); err == nil {
		b.Close()
		t.Fatal("opened a database with a newer schema")
	}
}
