package main

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
)

// cheapAccounts keeps argon2id small so the test does not spend its time
// hashing; records carry their parameters, so nothing else changes.
var cheapAccounts = auth.Options{
	Hash:         auth.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
	FailureDelay: -1,
}

// runUserCmd runs `tidemark user ARGS` with stdin a pipe carrying input,
// and returns the exit code and what it printed.
func runUserCmd(t *testing.T, input string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		w.WriteString(input)
		w.Close()
	}()
	var out, errOut bytes.Buffer
	code = userMain(args, userIO{stdin: r, stdout: &out, stderr: &errOut, accountOpts: cheapAccounts})
	return code, out.String(), errOut.String()
}

func checkLogin(t *testing.T, dir, name, password string) error {
	t.Helper()
	a, err := auth.OpenAccountsWith(dir, cheapAccounts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	return a.Authenticate(context.Background(), name, password, netip.MustParseAddr("127.0.0.1"))
}

func storeUsers(t *testing.T, dir string) []string {
	t.Helper()
	st, err := sqlitestore.Open(dir, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	users, err := st.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return users
}

func TestUserCommand(t *testing.T) {
	dir := t.TempDir()

	if code, _, errOut := runUserCmd(t, "s3cret pass\r\nignored\n", "add", "--data", dir, "Alice"); code != 0 {
		t.Fatalf("add alice: exit %d: %s", code, errOut)
	}
	if err := checkLogin(t, dir, "alice", "s3cret pass"); err != nil {
		t.Fatalf("login with the piped password: %v", err)
	}
	if err := checkLogin(t, dir, "alice", "ignored"); !errors.Is(err, auth.ErrAuthFailed) {
		t.Errorf("second input line became the password: %v", err)
	}
	if users := storeUsers(t, dir); !slices.Equal(users, []string{"alice"}) {
		t.Errorf("mail store users = %v, want [alice]", users)
	}
	// The new user's store opens and has an INBOX.
	st, err := sqlitestore.Open(dir, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := st.Open(context.Background(), "alice")
	if err != nil {
		t.Fatalf("open alice's mail store: %v", err)
	}
	if _, err := acct.Mailbox(context.Background(), "INBOX"); err != nil {
		t.Errorf("alice has no INBOX: %v", err)
	}
	acct.Close()
	st.Close()

	// Flags after the name, password from a file.
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("bobs-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runUserCmd(t, "", "add", "bob", "--data", dir, "--password-file", pwFile); code != 0 {
		t.Fatalf("add bob: exit %d: %s", code, errOut)
	}
	if err := checkLogin(t, dir, "bob", "bobs-password"); err != nil {
		t.Fatalf("login with the file's password: %v", err)
	}

	if code, _, _ := runUserCmd(t, "x\n", "add", "--data", dir, "ALICE"); code != 1 {
		t.Errorf("add of an existing user: exit %d, want 1", code)
	}
	if code, _, _ := runUserCmd(t, "x\n", "add", "--data", dir, "a+b"); code != 2 {
		t.Errorf("add of an invalid name: exit %d, want 2", code)
	}
	if code, _, _ := runUserCmd(t, "", "add", "--data", dir, "carol"); code != 1 {
		t.Errorf("add with no password: exit %d, want 1", code)
	}
	if ok := slices.Contains(storeUsers(t, dir), "carol"); ok {
		t.Error("failed add left a mail store")
	}

	code, out, _ := runUserCmd(t, "", "list", "--data", dir)
	if code != 0 || out != "alice\nbob\n" {
		t.Errorf("list: exit %d, output %q; want alice and bob", code, out)
	}

	if code, _, errOut := runUserCmd(t, "new-pass\n", "passwd", "--data", dir, "alice"); code != 0 {
		t.Fatalf("passwd: exit %d: %s", code, errOut)
	}
	if err := checkLogin(t, dir, "alice", "new-pass"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if err := checkLogin(t, dir, "alice", "s3cret pass"); !errors.Is(err, auth.ErrAuthFailed) {
		t.Errorf("old password after passwd: %v, want ErrAuthFailed", err)
	}
	if code, _, _ := runUserCmd(t, "x\n", "passwd", "--data", dir, "nobody"); code != 1 {
		t.Errorf("passwd of a missing user: exit %d, want 1", code)
	}

	// Standard input is a pipe, not a terminal: no confirmation possible.
	if code, _, errOut := runUserCmd(t, "y\n", "del", "--data", dir, "bob"); code != 1 || !strings.Contains(errOut, "--yes") {
		t.Errorf("del without --yes from a pipe: exit %d (%s), want 1 mentioning --yes", code, errOut)
	}
	if err := checkLogin(t, dir, "bob", "bobs-password"); err != nil {
		t.Errorf("bob gone after a refused del: %v", err)
	}
	if code, _, errOut := runUserCmd(t, "", "del", "--yes", "--data", dir, "bob"); code != 0 {
		t.Fatalf("del --yes: exit %d: %s", code, errOut)
	}
	if err := checkLogin(t, dir, "bob", "bobs-password"); !errors.Is(err, auth.ErrAuthFailed) {
		t.Errorf("login of deleted bob: %v, want ErrAuthFailed", err)
	}
	if users := storeUsers(t, dir); !slices.Equal(users, []string{"alice"}) {
		t.Errorf("mail store users after del = %v, want [alice]", users)
	}
	if code, _, _ := runUserCmd(t, "", "del", "--yes", "--data", dir, "bob"); code != 1 {
		t.Errorf("second del: exit %d, want 1", code)
	}
}

func TestUserCommandUsage(t *testing.T) {
	t.Setenv("TIDEMARK_DATA", "")
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"add", "--data", "", "alice"},           // empty --data
		{"add", "--data", t.TempDir()},           // no name
		{"list", "--data", t.TempDir(), "extra"}, // list takes no name
		{"del", "--data", t.TempDir(), "--bogus", "x"},
	} {
		if code, _, _ := runUserCmd(t, "", args...); code != 2 {
			t.Errorf("user %v: exit %d, want 2", args, code)
		}
	}
	dir := t.TempDir()
	t.Setenv("TIDEMARK_DATA", dir)
	if code, _, errOut := runUserCmd(t, "pw\n", "add", "dana"); code != 0 {
		t.Fatalf("add with TIDEMARK_DATA: exit %d: %s", code, errOut)
	}
	if err := checkLogin(t, dir, "dana", "pw"); err != nil {
		t.Error(err)
	}
}
