package pgstore

import (
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestTextIndexOff: with Options.NoTextIndex, appends write no text_index
// rows and mark the user's index missing, so it answers nothing and
// SEARCH scans; a store with the index on again indexes new messages but
// keeps scanning until Reindex, which a concurrent append with the index
// off makes leave the mark in place.
func TestTextIndexOff(t *testing.T) {
	dsn := pgtest.DSN(t)
	on := openTest(t, dsn, Options{})
	off := openTest(t, dsn, Options{NoTextIndex: true})
	if err := on.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	all := store.UIDSet{{Start: 1, Stop: 1000}}
	appendTo := func(s *Store, body string) {
		t.Helper()
		a, err := s.Open(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		inbox, err := a.Mailbox(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader("Subject: " + body + "\r\n\r\n" + body + "\r\n")}}); err != nil {
			t.Fatal(err)
		}
	}
	search := func(needle string) store.TextHits {
		t.Helper()
		a, err := on.Open(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		inbox, err := a.Mailbox(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		h, err := a.(store.TextSearcher).SearchText(ctx, inbox.ID, store.TextBody, needle, all)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	rows := func() int {
		t.Helper()
		var n int
		if err := on.pool.QueryRow(ctx, `SELECT count(*) FROM text_index t JOIN contents c ON c.id = t.content_id
			JOIN users u ON u.id = c.user_id WHERE u.name = 'alice'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	appendTo(on, "walrus-one")
	if h := search("walrus-one"); !h.OK || h.Sure.String() != "1" {
		t.Fatalf("on: %+v", h)
	}
	appendTo(off, "walrus-two")
	if n := rows(); n != 1 {
		t.Fatalf("off: %d index rows, want 1", n)
	}
	if h := search("walrus-two"); h.OK {
		t.Fatalf("off: index answered %+v", h)
	}
	appendTo(on, "walrus-three")
	if n := rows(); n != 2 {
		t.Fatalf("on again: %d index rows, want 2", n)
	}
	if h := search("walrus-three"); h.OK {
		t.Fatalf("on again, before reindex: index answered %+v", h)
	}
	if err := off.Reindex(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if h := search("walrus"); !h.OK || h.Sure.String() != "1:3" {
		t.Fatalf("after reindex: %+v", h)
	}
	appendTo(off, "walrus-four")
	if h := search("walrus"); h.OK {
		t.Fatalf("off, after reindex: index answered %+v", h)
	}
}
