package main

import (
	"context"
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

	damageAliceDB(t, dir, `UPDATE mailboxes SET unseen = 42, size = 0 WHERE name = 'INBOX'`)
	checkRepairs(t, dir)
	a = reopenAlice(t, dir)
	if got, _ := a.Status(ctx, inbox.ID); got != want {
		t.Fatalf("status after repair %+v, want %+v", got, want)
	}
}
