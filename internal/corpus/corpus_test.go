package corpus

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPathFromEnvironment(t *testing.T) {
	t.Setenv("TIDEMARK_BENCH_MBOX", "/some/where.mbox")
	if got := Path(); got != "/some/where.mbox" {
		t.Fatalf("Path() = %q", got)
	}
}

// Beside a module root, shared/data/bench.mbox is found from any folder
// below it.
func TestPathBesideModule(t *testing.T) {
	t.Setenv("TIDEMARK_BENCH_MBOX", "")
	top := t.TempDir()
	repo := filepath.Join(top, "repo")
	data := filepath.Join(top, "shared", "data")
	for _, d := range []string{filepath.Join(repo, "internal", "x"), data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(repo, "go.mod"), []byte("module x\n"), 0o644)
	want := filepath.Join(data, "bench.mbox")
	os.WriteFile(want, []byte("From a\n"), 0o644)
	t.Chdir(filepath.Join(repo, "internal", "x"))
	if got := Path(); got != want {
		t.Fatalf("Path() = %q, want %q", got, want)
	}
}
