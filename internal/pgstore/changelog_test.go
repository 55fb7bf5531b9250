package pgstore

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/store"
)

func changedUIDList(t *testing.T, a store.Account, id store.MailboxID, since store.ModSeq) []store.UID {
	t.Helper()
	ch, err := a.ChangesSince(ctx, id, since)
	if err != nil {
		t.Fatal(err)
	}
	var uids []store.UID
	for _, m := range ch.Changed {
		uids = append(uids, m.UID)
	}
	return uids
}

// TestChangeLogUpgradeFromV10: messages stored before schema version 11
// (modseqs kept only in the messages rows) are found by ChangesSince after
// the upgrade, exactly, and later flag changes are too.
func TestChangeLogUpgradeFromV10(t *testing.T) {
	dsn := pgtest.EmptyDSN(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE tidemark_schema (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for v := 0; v < 10; v++ {
		if _, err := conn.Exec(ctx, migrations[v]); err != nil {
			t.Fatalf("version %d: %v", v+1, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO tidemark_schema (version) VALUES ($1)`, v+1); err != nil {
			t.Fatal(err)
		}
	}
	// Ten messages, UID u at modseq 10+u, except 4 and 7 changed last at 30.
	var mbox int64
	err = conn.QueryRow(ctx, `WITH u AS (INSERT INTO users (name, defaults_given) VALUES ('alice', true) RETURNING id)
		INSERT INTO mailboxes (user_id, name, uidvalidity, uidnext, highestmodseq, guid, messages, unseen, size)
		SELECT id, 'INBOX', 1, 11, 30, 'Minbox', 10, 10, 10 FROM u RETURNING id`).Scan(&mbox)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO bodies (id, size) VALUES ('b', 1);
		INSERT INTO contents (user_id, blob_id, size, internaldate, internaldate_zone, email_id, thread_id, structure)
			SELECT id, 'b', 1, 0, 0, 'E', 'T', '' FROM users`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO messages (mailbox_id, uid, modseq, flags, savedate, size, content_id)
		SELECT $1, u, CASE WHEN u IN (4, 7) THEN 30 ELSE 10 + u END, 0, 0, 1, (SELECT id FROM contents)
		FROM generate_series(1, 10) AS u`, mbox); err != nil {
		t.Fatal(err)
	}

	s := openTest(t, dsn, Options{NoListen: true})
	a, err := s.Open(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	id := store.MailboxID(mbox)
	for since, want := range map[store.ModSeq][]store.UID{
		0:  {1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
		15: {4, 6, 7, 8, 9, 10},
		20: {4, 7},
		30: nil,
	} {
		if got := changedUIDList(t, a, id, since); !slices.Equal(got, want) {
			t.Errorf("changed since %d after the upgrade: %v, want %v", since, got, want)
		}
	}
	r, err := a.SetFlags(ctx, id, store.UIDSetOf(2, 9), store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := changedUIDList(t, a, id, 30); !slices.Equal(got, []store.UID{2, 9}) {
		t.Errorf("changed since 30 after a STORE at %d: %v", r.ModSeq, got)
	}
	if got := changedUIDList(t, a, id, 20); !slices.Equal(got, []store.UID{2, 4, 7, 9}) {
		t.Errorf("changed since 20 after a STORE at %d: %v", r.ModSeq, got)
	}
	var v int
	if err := conn.QueryRow(ctx, `SELECT max(version) FROM tidemark_schema`).Scan(&v); err != nil || v != SchemaVersion {
		t.Fatalf("schema version %d, %v", v, err)
	}
}

// TestChangeLogStaysSmall: a flag change that covers every message of
// earlier entries replaces them, a partial one leaves what it does not
// cover, and entries never hide a change: ChangesSince stays exact for
// every modseq along the way.
func TestChangeLogStaysSmall(t *testing.T) {
	s := openTest(t, pgtest.DSN(t), Options{NoListen: true})
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	a, err := s.Open(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	inbox, _ := a.Mailbox(ctx, "INBOX")
	for i := 0; i < 20; i++ { // 20 appends: 20 entries
		if _, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i))}}); err != nil {
			t.Fatal(err)
		}
	}
	entries := func() int {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM message_changes WHERE mailbox_id = $1`, inbox.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := entries(); n != 20 {
		t.Fatalf("%d entries after 20 appends", n)
	}
	// UID 10 expunged: 1:* still changes every message there is, in one
	// range.
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSetOf(10)); err != nil {
		t.Fatal(err)
	}
	all := store.UIDSet{{Start: 1, Stop: store.MaxUID}}
	r1, err := a.SetFlags(ctx, inbox.ID, all, store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := entries(); n != 1 {
		t.Errorf("%d entries after STORE 1:*, want 1", n)
	}
	// 5:8 and 15 change; 1:4 stay as they were in between.
	r2, err := a.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 5, Stop: 8}, {Start: 15, Stop: 15}}, store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := entries(); n != 3 {
		t.Errorf("%d entries after a partial STORE, want 3", n)
	}
	exact := func(when string) {
		t.Helper()
		for since, want := range map[store.ModSeq]int{r1.ModSeq - 1: 19, r1.ModSeq: 5, r2.ModSeq: 0} {
			if got := changedUIDList(t, a, inbox.ID, since); len(got) != want {
				t.Errorf("%s: changed since %d: %v, want %d messages", when, since, got, want)
			}
		}
	}
	exact("after the STOREs")

	// check finds a log that lost entries, and repair puts them back.
	if _, err := s.pool.Exec(ctx, `DELETE FROM message_changes WHERE mailbox_id = $1 AND uid_start = 5`, inbox.ID); err != nil {
		t.Fatal(err)
	}
	if ps, err := s.Check(ctx, "alice"); err != nil || len(ps) != 4 {
		t.Errorf("check of a log missing 5:8: %v, %v", ps, err)
	}
	if _, err := s.Repair(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if ps, err := s.Check(ctx, "alice"); err != nil || len(ps) != 0 {
		t.Errorf("check after repair: %v, %v", ps, err)
	}
	exact("after the repair")

	// Expunging every message leaves no entry behind.
	if _, err := a.Expunge(ctx, inbox.ID, all); err != nil {
		t.Fatal(err)
	}
	if n := entries(); n != 0 {
		t.Errorf("%d entries after expunging every message", n)
	}
	if ch, err := a.ChangesSince(ctx, inbox.ID, 0); err != nil || len(ch.Changed) != 0 || len(ch.Vanished) == 0 {
		t.Errorf("changes of an emptied mailbox: %+v, %v", ch, err)
	}
}
