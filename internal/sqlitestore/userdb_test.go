package sqlitestore

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestUserHandlesShareDatabase: the user rules are in the shared suite
// (storetest testUsers); what is this backend's own is that handles on
// one user share one open database, that the user's directory cannot be
// deleted under an open handle, and that deleting leaves no files.
func TestUserHandlesShareDatabase(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	if err := s.CreateUser(ctx, "carol@example.org"); err != nil {
		t.Fatal(err)
	}
	a1, err := s.Open(ctx, "CAROL@example.org")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := s.Open(ctx, "carol@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if a1.(*Account).u != a2.(*Account).u {
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
	if es, _ := os.ReadDir(filepath.Join(dir, "users")); len(es) != 0 {
		t.Fatalf("leftovers in users dir: %d entries", len(es))
	}
}
