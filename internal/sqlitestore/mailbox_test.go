package sqlitestore

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func names(t *testing.T, a *Account) []string {
	t.Helper()
	ms, err := a.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestUsers(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	for _, bad := range []string{"", "../x", "a/b", ".hidden", "-x", "a b", "é"} {
		if err := s.CreateUser(ctx, bad); !isErr(err, store.ErrCannot) {
			t.Errorf("CreateUser(%q) = %v", bad, err)
		}
		if _, err := s.Open(ctx, bad); !isErr(err, store.ErrNoUser) {
			t.Errorf("Open(%q) = %v", bad, err)
		}
	}
	if err := s.CreateUser(ctx, "Carol@Example.org"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, "carol@example.org"); !isErr(err, store.ErrUserExists) {
		t.Fatalf("duplicate: %v", err)
	}
	s.CreateUser(ctx, "bob")
	if us, _ := s.Users(ctx); !slices.Equal(us, []string{"bob", "carol@example.org"}) {
		t.Fatalf("users %q", us)
	}
	if _, err := s.Open(ctx, "nobody"); !isErr(err, store.ErrNoUser) {
		t.Fatalf("open nobody: %v", err)
	}
	// Two handles share one database; deletion waits for both to close.
	a1, err := s.Open(ctx, "CAROL@example.org")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := s.Open(ctx, "carol@example.org")
	if a1.(*Account).u != a2.(*Account).u || a1.User() != "carol@example.org" {
		t.Fatal("handles do not share the database")
	}
	a1.Close()
	a1.Close()
	if err := s.DeleteUser(ctx, "carol@example.org"); !isErr(err, store.ErrCannot) {
		t.Fatalf("delete while open: %v", err)
	}
	if _, err := a2.Mailboxes(ctx); err != nil {
		t.Fatalf("second handle broken after first closed: %v", err)
	}
	a2.Close()
	if err := s.DeleteUser(ctx, "carol@example.org"); err != nil {
		t.Fatal(err)
	}
	if us, _ := s.Users(ctx); !slices.Equal(us, []string{"bob"}) {
		t.Fatalf("users after delete %q", us)
	}
	if err := s.DeleteUser(ctx, "carol@example.org"); !isErr(err, store.ErrNoUser) {
		t.Fatalf("delete twice: %v", err)
	}
	es, _ := os.ReadDir(filepath.Join(dir, "users"))
	if len(es) != 1 {
		t.Fatalf("leftovers in users dir: %d entries", len(es))
	}
}
