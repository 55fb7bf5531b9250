package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// check --repair recounts STATUS counters that no longer match the
// messages, changing nothing else.
func TestCheckRepairCounters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, a, inbox := openAliceInbox(t, dir, sqlitestore.Options{})
	msgs := []store.NewMessage{
		{Body: strings.NewReader("Subject: 1\r\n\r\none\r\n"), Flags: store.Flags{System: store.FlagSeen}},
		{Body: strings.NewReader("Subject: 2\r\n\r\ntwo\r\n")},
	}
	if _, err := a.Append(ctx, inbox.ID, msgs); err != nil {
		t.Fatal(err)
	}
	want, _ := a.Status(ctx, inbox.ID)
	a.Close()
	s.Close()

	db, err := sql.Open("sqlite", filepath.Join(dir, "users", "alice", "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE mailboxes SET unseen = 42, size = 0 WHERE name = 'INBOX'`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	if code := runCheck([]string{"--data", dir}); code != 1 {
		t.Fatalf("wrong counters: exit %d", code)
	}
	if code := runCheck([]string{"--data", dir, "--repair"}); code != 0 {
		t.Fatalf("repair: exit %d", code)
	}
	if code := runCheck([]string{"--data", dir}); code != 0 {
		t.Fatalf("after repair: exit %d", code)
	}
	s, err = sqlitestore.Open(dir, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, _ = s.Open(ctx, "alice")
	defer a.Close()
	if got, _ := a.Status(ctx, inbox.ID); got != want {
		t.Fatalf("status after repair %+v, want %+v", got, want)
	}
}
