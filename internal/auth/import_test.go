package auth

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestImportFile moves two nodes' accounts.db into shared PostgreSQL
// accounts, both at once: every login of either file works afterwards, a
// name both held ends with the later change, and each file is imported
// once (its mark written). A delete made in the shared accounts after the
// import is not undone by importing the file again.
func TestImportFile(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		nodeA, nodeB := t.TempDir(), t.TempDir()
		a := openSQLite(t, nodeA)
		b := openSQLite(t, nodeB)
		for _, s := range []struct {
			acc      *Accounts
			name, pw string
		}{{a, "ann", "a1"}, {a, "both", "older"}, {b, "bob", "b1"}, {b, "both", "newer"}} {
			if err := s.acc.Add(s.name, s.pw); err != nil {
				t.Fatal(err)
			}
		}
		a.Close()
		b.Close()

		shared := openTest(t, t.TempDir(), testOptions())
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, dir := range []string{nodeA, nodeB} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = shared.ImportFile(ctx, dir)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		mustLogin(t, shared, "ann", "a1", nil)
		mustLogin(t, shared, "bob", "b1", nil)
		mustLogin(t, shared, "both", "newer", nil)
		mustLogin(t, shared, "both", "older", ErrAuthFailed)
		for _, dir := range []string{nodeA, nodeB} {
			if _, err := os.Stat(filepath.Join(dir, ImportedMark)); err != nil {
				t.Fatalf("no mark after the import: %v", err)
			}
		}

		if err := shared.Delete("ann"); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(nodeA, ImportedMark))
		if n, err := shared.ImportFile(ctx, nodeA); err != nil || n != 0 {
			t.Fatalf("second import changed %d records, %v", n, err)
		}
		mustLogin(t, shared, "ann", "a1", ErrAuthFailed)
		if n, err := shared.ImportFile(ctx, t.TempDir()); err != nil || n != 0 {
			t.Fatalf("import of a directory without accounts.db: %d, %v", n, err)
		}
	})
}

func openSQLite(t *testing.T, dir string) *Accounts {
	t.Helper()
	a, err := OpenAccountsWith(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}
