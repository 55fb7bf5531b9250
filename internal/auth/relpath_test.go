package auth

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// A data directory given as a relative path (the default ./tidemark-data)
// must work like an absolute one.
func TestOpenRelativeDataDir(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("data", 0o700); err != nil {
		t.Fatal(err)
	}
	a, err := OpenAccounts("data")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Add("carol", "secret-pw"); err != nil {
		t.Fatal(err)
	}
	if err := a.Authenticate(context.Background(), "carol", "secret-pw", netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", DBFile)); err != nil {
		t.Fatalf("accounts database not inside the relative data dir: %v", err)
	}
}
