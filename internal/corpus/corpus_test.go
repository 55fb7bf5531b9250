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

// Outside any module, with the variable unset, there is no place to look.
func TestPathOutsideModule(t *testing.T) {
	t.Setenv("TIDEMARK_BENCH_MBOX", "")
	t.Chdir(t.TempDir())
	if got := Path(); got != "" {
		t.Fatalf("Path() = %q outside a module", got)
	}
}

// The path is relative to the module, never a fixed place on some machine:
// from this package it is ../shared/data/bench.mbox beside the module root.
func TestPathIsBesideThisModule(t *testing.T) {
	t.Setenv("TIDEMARK_BENCH_MBOX", "")
	wd, _ := os.Getwd()
	root := filepath.Dir(filepath.Dir(wd)) // internal/corpus -> module root
	want := filepath.Join(filepath.Dir(root), "shared", "data", "bench.mbox")
	if got := Path(); got != want {
		t.Fatalf("Path() = %q, want %q", got, want)
	}
	if _, err := os.Stat(want); err != nil {
		if Required() {
			t.Fatalf("corpus required (TIDEMARK_CI) but missing: %v", err)
		}
		t.Logf("corpus not present here: %v", err)
	}
}
