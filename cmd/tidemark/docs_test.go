package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoFiles calls fn with the path (relative to the module root) and text
// of every Go source and Markdown file of the repository except this one.
func repoFiles(t *testing.T, fn func(path, text string)) {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); p != root && (strings.HasPrefix(name, ".") && name != ".ci" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if rel == filepath.Join("cmd", "tidemark", "docs_test.go") {
			return nil
		}
		if !strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, ".md") && rel != filepath.Join(".ci", "run") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fn(rel, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRepositorySpeaksOfItselfOnly: code and docs name files beside the
// checkout relatively (../shared/...), never by a path of one machine, and
// say nothing about how the project is made; the behaviour or the RFC
// section is named instead.
func TestRepositorySpeaksOfItselfOnly(t *testing.T) {
	bad := []*regexp.Regexp{
		regexp.MustCompile(`(^|[\s"'(=` + "`" + `])/(work|home|root)/`),
		regexp.MustCompile(`(?i)\b(time budget|project machine|seed problems?|design principle)\b`),
	}
	repoFiles(t, func(path, text string) {
		for i, line := range strings.Split(text, "\n") {
			for _, re := range bad {
				if m := re.FindString(line); m != "" {
					t.Errorf("%s:%d: %q in %q", path, i+1, m, strings.TrimSpace(line))
				}
			}
		}
	})
}
