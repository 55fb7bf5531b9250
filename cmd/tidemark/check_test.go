package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// openAliceInbox opens the embedded store in dir with opts, gives alice
// her mail store and opens her INBOX: the start of the tests that put
// messages in a store, damage it and run check or reindex on it. The
// caller closes the account and the store.
func openAliceInbox(t *testing.T, dir string, opts sqlitestore.Options) (*sqlitestore.Store, store.Account, store.MailboxInfo) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlitestore.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	a, err := s.Open(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := a.Mailbox(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return s, a, inbox
}

// appendNumbered appends n small distinct messages ("Subject: i", "body
// i") to mailbox id.
func appendNumbered(t *testing.T, a store.Account, id store.MailboxID, n int) {
	t.Helper()
	var msgs []store.NewMessage
	for i := range n {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i))})
	}
	if _, err := a.Append(context.Background(), id, msgs); err != nil {
		t.Fatal(err)
	}
}

// damageAliceDB runs stmt on alice's database directly, as a fault or an
// operator would, while no store has it open.
func damageAliceDB(t *testing.T, dir, stmt string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "users", "alice", "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt, args...); err != nil {
		t.Fatal(err)
	}
}

// checkRepairs runs check on the damaged store in dir: check must find
// the damage (exit 1), check --repair mend it (exit 0), and check then
// find the store clean.
func checkRepairs(t *testing.T, dir string) {
	t.Helper()
	if code := runCheck([]string{"--data", dir}); code != 1 {
		t.Fatalf("damaged store: exit %d", code)
	}
	if code := runCheck([]string{"--data", dir, "--repair"}); code != 0 {
		t.Fatalf("repair: exit %d", code)
	}
	if code := runCheck([]string{"--data", dir}); code != 0 {
		t.Fatalf("after repair: exit %d", code)
	}
}

// reopenAlice opens the embedded store in dir again and alice's account
// in it, both closed when the test ends.
func reopenAlice(t *testing.T, dir string) store.Account {
	t.Helper()
	s, err := sqlitestore.Open(dir, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a, err := s.Open(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlitestore.Open(dir, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if code := runCheck([]string{"--data", dir, "--user", "alice"}); code != 0 {
		t.Fatalf("clean store: exit %d", code)
	}
	if code := runCheck([]string{"--data", dir, "--user", "nobody"}); code != 2 {
		t.Fatalf("missing user: exit %d", code)
	}
	if code := runCheck(nil); code != 2 {
		t.Fatalf("no --data: exit %d", code)
	}
	// A damaged blob file is reported and makes the exit status 1.
	s, _ = sqlitestore.Open(dir, sqlitestore.Options{InlineBodyMax: -1})
	a, err := s.Open(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	inbox, _ := a.Mailbox(context.Background(), "INBOX")
	if _, err := a.Append(context.Background(), inbox.ID, []store.NewMessage{{Body: strings.NewReader("Subject: x\r\n\r\nhi\r\n")}}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	s.Close()
	blobs, _ := filepath.Glob(filepath.Join(dir, "users", "alice", "blobs", "??", "*"))
	if len(blobs) != 1 {
		t.Fatalf("%d blobs", len(blobs))
	}
	os.Chmod(blobs[0], 0o600)
	if err := os.WriteFile(blobs[0], []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := runCheck([]string{"--data", dir}); code != 1 {
		t.Fatalf("damaged blob: exit %d", code)
	}
}
