package pgstore

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/sortthread"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestSummaryUpgrade converts a version 11 database holding mail: its
// messages have no stored sort keys or preview (readers compute them)
// until Reindex fills them in with what delivery would have stored;
// messages appended after the upgrade have them at once.
func TestSummaryUpgrade(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := openTest(t, dsn, Options{NoListen: true})
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	appendSome := func(s *Store, from, n int) {
		t.Helper()
		var bodies []string
		for i := from; i < from+n; i++ {
			bodies = append(bodies, fmt.Sprintf(
				"From: \"Writer %d\" <w%d@example.org>\r\nSubject: Re: note %d\r\nDate: Mon, 2 Mar 2026 10:%02d:00 +0100\r\n\r\nbody %d\r\n", i, i, i, i, i))
		}
		appendInbox(t, s, "alice", bodies...)
	}
	appendSome(s, 0, 6)
	for _, q := range append(undoTextTables, []string{
		`ALTER TABLE contents DROP COLUMN sort_keys`,
		`ALTER TABLE contents DROP COLUMN preview`,
		`DROP INDEX text_index_partial_rows`,
		// The later steps go too, to be applied again after this one.
		`DROP TABLE acl`,
		`DROP FUNCTION acl_mailbox_deleted CASCADE`,
		`DROP FUNCTION acl_grantee_deleted CASCADE`,
		`DROP TABLE access_keys`,
		`DROP FUNCTION access_keys_mailbox_deleted CASCADE`,
		`DROP TABLE accounts, account_tombstones, account_clock`,
		`DELETE FROM tidemark_schema WHERE version >= 12`,
	}...) {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	s = openTest(t, dsn, Options{NoListen: true})
	appendSome(s, 6, 3)
	stored := func() (keys, previews int) {
		t.Helper()
		a, err := s.openAccount(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		inbox, err := a.Mailbox(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		all := store.UIDSet{{Start: 1, Stop: 100}}
		want := map[store.UID]sortthread.Msg{}
		err = a.Messages(ctx, inbox.ID, all, func(md *store.MessageData) error {
			want[md.UID] = sortthread.FromMessage(md)
			if md.HasPreview {
				if md.Preview != fmt.Sprintf("body %d", md.UID-1) {
					t.Errorf("UID %d: preview %q", md.UID, md.Preview)
				}
				previews++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = a.MessageKeys(ctx, inbox.ID, all, func(k *store.MessageKeys) error {
			if k.Keys == nil {
				return nil
			}
			keys++
			got, err := sortthread.DecodeKeys(k.Keys, k.UID, k.InternalDate, k.Size)
			if err != nil || !reflect.DeepEqual(got, want[k.UID]) {
				t.Fatalf("UID %d: stored %+v (%v), computed %+v", k.UID, got, err, want[k.UID])
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return keys, previews
	}
	if k, p := stored(); k != 3 || p != 3 {
		t.Fatalf("after the upgrade: %d stored keys, %d previews; want the 3 new messages'", k, p)
	}
	if err := s.Reindex(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if k, p := stored(); k != 9 || p != 9 {
		t.Fatalf("after Reindex: %d stored keys, %d previews; want 9", k, p)
	}
}
