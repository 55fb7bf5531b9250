package main

import (
	"context"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// tidemark reindex and check --repair rebuild a text index that lost its
// rows: BODY is answered by the index again, and finds the message.
func TestReindex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, a, inbox := openAliceInbox(t, dir, sqlitestore.Options{})
	if _, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader("Subject: hi\r\n\r\nxylograph\r\n")}}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	s.Close()

	all := store.UIDSet{{Start: 1, Stop: 10}}
	search := func() store.TextHits {
		t.Helper()
		s, err := sqlitestore.Open(dir, sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		a, _ := s.Open(ctx, "alice")
		defer a.Close()
		h, err := store.SearchText(ctx, a, inbox.ID, store.TextBody, "xylograph", all)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	wipe := func() {
		t.Helper()
		// Both tables BODY may read: the trigrams and the words.
		damageAliceDB(t, dir, `INSERT INTO text_body (text_body) VALUES ('delete-all')`)
		damageAliceDB(t, dir, `INSERT INTO text_body_words (text_body_words) VALUES ('delete-all')`)
	}
	wipe()
	if h := search(); !h.OK || !h.Sure.Empty() {
		t.Fatalf("after wiping the index: %+v", h)
	}
	if code := runReindex([]string{"--data", dir, "--user", "alice"}); code != 0 {
		t.Fatalf("reindex exit %d", code)
	}
	if h := search(); !h.OK || h.Sure.String() != "1" {
		t.Fatalf("after reindex: %+v", h)
	}
	wipe()
	if code := runCheck([]string{"--data", dir, "--repair"}); code != 0 {
		t.Fatalf("check --repair exit %d", code)
	}
	if h := search(); !h.OK || h.Sure.String() != "1" {
		t.Fatalf("after check --repair: %+v", h)
	}
	if code := runReindex([]string{"--data", dir, "--user", "nobody"}); code != 1 {
		t.Fatalf("reindex of an unknown user: exit %d", code)
	}
}
