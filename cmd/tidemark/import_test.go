package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/config"
	"github.com/tidemark-mail/tidemark/internal/store"
)

func TestImportExportCommands(t *testing.T) {
	ctx := context.Background()
	dir := newDataDir(t, "alice", "bob")
	fixture := filepath.Join("..", "..", "internal", "mailimport", "testdata")
	run := func(main func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) int, args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := main(ctx, args, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	imp := func(ctx context.Context, a []string, o, e *bytes.Buffer) int { return importMain(ctx, a, o, e) }
	exp := func(ctx context.Context, a []string, o, e *bytes.Buffer) int { return exportMain(ctx, a, o, e) }

	code, out, errOut := run(imp, "--data", dir, "--user", "alice", "--mbox", filepath.Join(fixture, "tricky.mbox"))
	if code != 0 || !strings.HasPrefix(out, "imported 4 messages") || !strings.Contains(out, "skipped 0 duplicates, failed 0") {
		t.Fatalf("import: exit %d: %s%s", code, out, errOut)
	}
	code, out, _ = run(imp, "--data", dir, "--user", "alice", "--mbox", filepath.Join(fixture, "tricky.mbox"))
	if code != 0 || !strings.HasPrefix(out, "imported 0 messages") || !strings.Contains(out, "skipped 4 duplicates") {
		t.Fatalf("second import: exit %d: %s", code, out)
	}
	code, out, _ = run(imp, "--data", dir, "--user", "alice", "--maildir", filepath.Join(fixture, "maildir"), "--mailbox", "Old")
	if code != 0 || !strings.HasPrefix(out, "imported 7 messages") {
		t.Fatalf("maildir import: exit %d: %s", code, out)
	}
	code, _, errOut = run(imp, "--data", dir, "--user", "alice", "--mbox", filepath.Join(fixture, "malformed.mbox"))
	if code != 1 || !strings.Contains(errOut, "malformed.mbox:1: ") {
		t.Errorf("malformed: exit %d: %s", code, errOut)
	}

	mdir := filepath.Join(t.TempDir(), "Maildir")
	code, out, errOut = run(exp, "--data", dir, "--user", "alice", "--maildir", mdir)
	if code != 0 || !strings.HasPrefix(out, "exported 11 messages") {
		t.Fatalf("export: exit %d: %s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(mdir, ".Old.Archive.2023", "cur")); err != nil {
		t.Errorf("exported folder missing: %v", err)
	}
	code, out, _ = run(imp, "--data", dir, "--user", "bob", "--maildir", mdir)
	if code != 0 || !strings.HasPrefix(out, "imported 11 messages") {
		t.Fatalf("re-import: exit %d: %s", code, out)
	}
	// Exporting over existing files is refused.
	if code, _, errOut = run(exp, "--data", dir, "--user", "alice", "--maildir", mdir); code != 1 || !strings.Contains(errOut, "not empty") {
		t.Errorf("export over a non-empty directory: exit %d: %s", code, errOut)
	}
	mboxFile := filepath.Join(t.TempDir(), "inbox.mbox")
	if code, out, errOut = run(exp, "--data", dir, "--user", "bob", "--mbox", mboxFile, "--mailbox", "INBOX"); code != 0 || !strings.HasPrefix(out, "exported 4 messages") {
		t.Errorf("mbox export of one mailbox: exit %d: %s%s", code, out, errOut)
	}

	for _, args := range [][]string{
		{"--data", dir, "--user", "alice"},
		{"--data", dir, "--user", "alice", "--mbox", "x", "--maildir", "y"},
		{"--data", dir, "--user", "alice", "--mbox", "x", "--variant", "mboxcl"},
	} {
		if code, _, _ := run(imp, args...); code != 2 {
			t.Errorf("import %v: exit %d, want 2", args, code)
		}
	}
	if code, _, errOut := run(imp, "--data", dir, "--user", "carol", "--mbox", "x"); code != 1 || !strings.Contains(errOut, "no such user") {
		t.Errorf("unknown user: exit %d: %s", code, errOut)
	}
}

// TestImportTextIndexSetting: `tidemark import --config` honours [search]
// text_index: with it off the imported messages are not in the text index
// (it answers nothing for that user), with it on (and with no file) they
// are, all of them: import writes the index behind its appends and waits
// for it before exiting, leaving no backlog for SEARCH to scan.
func TestImportTextIndexSetting(t *testing.T) {
	ctx := context.Background()
	dir := newDataDir(t, "alice", "bob", "carol")
	fixture := filepath.Join("..", "..", "internal", "mailimport", "testdata", "tricky.mbox")
	conf := func(v string) string {
		p := filepath.Join(t.TempDir(), "tidemark.toml")
		if err := os.WriteFile(p, []byte("[search]\ntext_index = "+v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct{ user, config string }{
		{"alice", conf("true")}, {"bob", conf("false")}, {"carol", ""},
	} {
		var out, errOut bytes.Buffer
		args := []string{"--data", dir, "--user", c.user, "--mbox", fixture}
		if c.config != "" {
			args = append(args, "--config", c.config)
		}
		if code := importMain(ctx, args, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "imported 4 messages") {
			t.Fatalf("import for %s: exit %d: %s%s", c.user, code, out.String(), errOut.String())
		}
	}
	st, err := openStore(ctx, config.Store{Kind: config.StoreEmbedded}, dir, storeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for user, indexed := range map[string]bool{"alice": true, "bob": false, "carol": true} {
		a, err := st.Open(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		inbox, err := a.Mailbox(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		h, err := a.(store.TextSearcher).SearchText(ctx, inbox.ID, store.TextBody, "the", store.UIDSet{{Start: 1, Stop: 100}})
		a.Close()
		if err != nil || h.OK != indexed {
			t.Errorf("%s: index answered %v (%v), want %v", user, h.OK, err, indexed)
		}
		if indexed && (len(h.Maybe) != 0 || len(h.Sure) == 0) {
			t.Errorf("%s: index sure of %v, not yet indexed %v; want every message indexed", user, h.Sure, h.Maybe)
		}
	}
}
