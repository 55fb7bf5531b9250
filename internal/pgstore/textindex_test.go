package pgstore

import (
	"fmt"
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
		appendInbox(t, s, "alice", "Subject: "+body+"\r\n\r\n"+body+"\r\n")
	}
	search := func(needle string) store.TextHits {
		t.Helper()
		a, inbox := openInbox(t, on, "alice")
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

// undoTextTables turns the text index back into its form before schema
// version 18 (one text_index table holding every column), keeping the
// text of the rows stored, and forgets the later versions.
var undoTextTables = []string{
	`DROP TABLE text_index_subjects`,          // version 20
	`DROP TABLE account_peers, sharing_peers`, // version 19 first
	`ALTER TABLE text_index ADD COLUMN header text NOT NULL DEFAULT '', ADD COLUMN subject text NOT NULL DEFAULT '',
		ADD COLUMN addr_from text NOT NULL DEFAULT '', ADD COLUMN addr_to text NOT NULL DEFAULT '',
		ADD COLUMN addr_cc text NOT NULL DEFAULT '', ADD COLUMN addr_bcc text NOT NULL DEFAULT ''`,
	`UPDATE text_index t SET header = h.header FROM text_index_header h WHERE h.content_id = t.content_id`,
	`UPDATE text_index t SET subject = f.subject, addr_from = f.addr_from, addr_to = f.addr_to, addr_cc = f.addr_cc,
		addr_bcc = f.addr_bcc FROM text_index_fields f WHERE f.content_id = t.content_id`,
	`DROP TABLE text_index_header, text_index_fields`,
	`ALTER TABLE text_index ALTER COLUMN body SET STORAGE EXTENDED`,
	`UPDATE text_index SET body = body || ''`, // stored compressed again
	`CREATE INDEX text_index_header ON text_index USING gin (header gin_trgm_ops)`,
	`CREATE INDEX text_index_subject ON text_index USING gin (subject gin_trgm_ops)`,
	`CREATE INDEX text_index_from ON text_index USING gin (addr_from gin_trgm_ops)`,
	`CREATE INDEX text_index_to ON text_index USING gin (addr_to gin_trgm_ops)`,
	`CREATE INDEX text_index_cc ON text_index USING gin (addr_cc gin_trgm_ops)`,
	`CREATE INDEX text_index_bcc ON text_index USING gin (addr_bcc gin_trgm_ops)`,
	`DELETE FROM tidemark_schema WHERE version >= 18`,
}

// TestTextTablesUpgrade: a store whose text index is one table (schema
// version 17) is split into the body, header and field tables with the
// rows it held, without a rebuild: every field's search answers from the
// copied rows at once, messages appended after the upgrade are indexed in
// the new tables, and no row of the old columns is left behind.
func TestTextTablesUpgrade(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := openTest(t, dsn, Options{NoListen: true})
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	// Bodies long enough that PostgreSQL would compress them.
	filler := strings.Repeat("filler line ", 600)
	appendTo := func(s *Store, from, n int) {
		t.Helper()
		var bodies []string
		for i := from; i < from+n; i++ {
			bodies = append(bodies, fmt.Sprintf(
				"From: \"Writer %d\" <w%d@example.org>\r\nTo: reader%d@example.net\r\nSubject: Quarterly Report %d\r\nX-Tag: marker%d\r\n\r\nbody of message walrus%d\r\n%s\r\n",
				i%2, i, i%3, i, i%2, i%2, filler))
		}
		appendInbox(t, s, "alice", bodies...)
	}
	appendTo(s, 0, 6)
	for _, q := range undoTextTables {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var version int
	if err := s.pool.QueryRow(ctx, `SELECT max(version) FROM tidemark_schema`).Scan(&version); err != nil || version != 17 {
		t.Fatalf("downgraded to version %d, %v", version, err)
	}
	s.Close()

	s = openTest(t, dsn, Options{NoListen: true})
	if err := s.pool.QueryRow(ctx, `SELECT max(version) FROM tidemark_schema`).Scan(&version); err != nil || version != SchemaVersion {
		t.Fatalf("upgraded to version %d (want %d), %v", version, SchemaVersion, err)
	}
	var stale int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_attribute
		WHERE attrelid = 'text_index'::regclass AND attnum > 0 AND attname NOT IN ('content_id', 'partial', 'body')`).Scan(&stale); err != nil || stale != 0 {
		t.Fatalf("%d columns of the old table left, dropped ones included, %v", stale, err)
	}
	var compressed int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM text_index WHERE pg_column_compression(body) IS NOT NULL`).Scan(&compressed); err != nil || compressed != 0 {
		t.Fatalf("%d bodies still compressed, %v", compressed, err)
	}
	appendTo(s, 6, 3)
	a, inbox := openInbox(t, s, "alice")
	all := store.UIDSet{{Start: 1, Stop: 100}}
	for _, c := range []struct {
		field       store.TextField
		needle      string
		sure, maybe string
	}{
		{store.TextSubject, "report 4", "5", ""},
		{store.TextSubject, "quarterly", "1:9", ""},
		{store.TextFrom, "writer 1", "2,4,6,8", ""},
		{store.TextTo, "reader2", "3,6,9", ""},
		{store.TextCc, "reader", "", ""},
		{store.TextBody, "walrus1", "2,4,6,8", ""},
		{store.TextBody, "marker1", "", ""},
		{store.TextText, "marker1", "2,4,6,8", ""},
		{store.TextText, "walrus0", "1,3,5,7,9", ""},
		{store.TextHeader, "marker0", "", "1,3,5,7,9"},
	} {
		h, err := a.(store.TextSearcher).SearchText(ctx, inbox.ID, c.field, c.needle, all)
		if err != nil || !h.OK || h.Sure.String() != c.sure || h.Maybe.String() != c.maybe {
			t.Errorf("field %d %q: sure %q maybe %q ok %v, %v; want sure %q maybe %q",
				c.field, c.needle, h.Sure.String(), h.Maybe.String(), h.OK, err, c.sure, c.maybe)
		}
	}
}

// appendInbox appends one message of each body to user's INBOX, in one
// Append.
func appendInbox(t *testing.T, s *Store, user string, bodies ...string) {
	t.Helper()
	a, err := s.Open(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	inbox, err := a.Mailbox(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]store.NewMessage, len(bodies))
	for i, b := range bodies {
		msgs[i].Body = strings.NewReader(b)
	}
	if _, err := a.Append(ctx, inbox.ID, msgs); err != nil {
		t.Fatal(err)
	}
}

// TestSearchTextContentMap: the matches are turned into UIDs by the
// mailbox's content map held by the Store (internal/contentmap). The map
// must follow every change, made by this front end or another one on the
// same database: a copy into the same mailbox (two UIDs of one content,
// out of content order), an expunge, a flag change, a copy to another
// mailbox. Another user's messages, appended between this user's so that
// their contents lie inside the mailbox's range of content ids, must
// never be answered, nor may a mailbox of another user.
func TestSearchTextContentMap(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := openTest(t, dsn, Options{NoListen: true})
	other := openTest(t, dsn, Options{NoListen: true}) // a second front end
	for _, u := range []string{"alice", "bob"} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	appendInbox(t, s, "alice", "Subject: a\r\n\r\nthe walrus said\r\n")
	appendInbox(t, s, "bob", "Subject: b\r\n\r\nbob's walrus\r\n")
	appendInbox(t, s, "alice", "Subject: c\r\n\r\nnothing here\r\n")
	appendInbox(t, s, "bob", "Subject: d\r\n\r\nanother walrus of bob\r\n")
	appendInbox(t, s, "alice", "Subject: walrus\r\n\r\na third walrus\r\n")

	a, aliceInbox := openInbox(t, s, "alice")
	b, aliceInboxB := openInbox(t, other, "alice")
	_, bobsInbox := openInbox(t, s, "bob")
	inbox, inboxB, bobsOwn := aliceInbox.ID, aliceInboxB.ID, bobsInbox.ID
	all := store.UIDSet{{Start: 1, Stop: 100}}
	check := func(stage string, id store.MailboxID, field store.TextField, within store.UIDSet, want string) {
		t.Helper()
		h, err := a.(store.TextSearcher).SearchText(ctx, id, field, "walrus", within)
		if err != nil || !h.OK || h.Sure.String() != want || !h.Maybe.Empty() {
			t.Fatalf("%s: sure %q maybe %q ok %v, %v; want %q", stage, h.Sure.String(), h.Maybe.String(), h.OK, err, want)
		}
		if want != "" && s.cmaps.Held(id) == nil {
			t.Fatalf("%s: answered without the content map", stage)
		}
	}
	check("appended", inbox, store.TextBody, all, "1,3")
	check("text", inbox, store.TextText, all, "1,3")
	check("subject", inbox, store.TextSubject, all, "3")
	check("bob's mailbox, searched by alice", bobsOwn, store.TextBody, all, "")
	if _, err := b.Copy(ctx, inboxB, inboxB, store.UIDSet{{Start: 1, Stop: 1}}); err != nil {
		t.Fatal(err)
	}
	check("copied into itself by the other front end", inbox, store.TextBody, all, "1,3:4")
	if _, err := b.Expunge(ctx, inboxB, store.UIDSet{{Start: 1, Stop: 1}}); err != nil {
		t.Fatal(err)
	}
	check("original expunged", inbox, store.TextBody, all, "3:4")
	if _, err := b.SetFlags(ctx, inboxB, store.UIDSet{{Start: 3, Stop: 3}}, store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0); err != nil {
		t.Fatal(err)
	}
	check("flagged", inbox, store.TextBody, all, "3:4")
	check("within", inbox, store.TextBody, store.UIDSet{{Start: 1, Stop: 3}}, "3")
	if _, err := a.CreateMailbox(ctx, "Other", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	o, err := a.Mailbox(ctx, "Other")
	if err != nil {
		t.Fatal(err)
	}
	check("empty mailbox", o.ID, store.TextBody, all, "")
	if _, err := a.Copy(ctx, inbox, o.ID, store.UIDSet{{Start: 2, Stop: 4}}); err != nil {
		t.Fatal(err)
	}
	check("other mailbox", o.ID, store.TextBody, all, "2:3")
	check("INBOX unchanged", inbox, store.TextBody, all, "3:4")
}

// upgradedWith gives alice the messages bodies in a fresh database, turns
// it back with the statements undo, and opens it again, which upgrades it
// to the current version.
func upgradedWith(t *testing.T, bodies []string, undo ...string) *Store {
	t.Helper()
	dsn := pgtest.DSN(t)
	s := openTest(t, dsn, Options{NoListen: true})
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	appendInbox(t, s, "alice", bodies...)
	for _, q := range undo {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.Close()
	s = openTest(t, dsn, Options{NoListen: true})
	var version int
	if err := s.pool.QueryRow(ctx, `SELECT max(version) FROM tidemark_schema`).Scan(&version); err != nil || version != SchemaVersion {
		t.Fatalf("upgraded to version %d (want %d), %v", version, SchemaVersion, err)
	}
	return s
}

// TestSubjectsUpgradeFromV19: a store at version 19, whose SUBJECT index
// is on text_index_fields, gets text_index_subjects with the subjects it
// held (no rebuild), SUBJECT answers from it at once, the old index is
// gone, messages appended after the upgrade are written to it, and an
// expunged and reclaimed message's row goes with its contents.
func TestSubjectsUpgradeFromV19(t *testing.T) {
	s := upgradedWith(t, []string{"Subject: Quarterly Report\r\n\r\nbody\r\n", "Subject: lunch\r\n\r\nreport inside\r\n"},
		`DROP TABLE text_index_subjects`,
		`CREATE INDEX text_index_fields_subject ON text_index_fields USING gin (subject gin_trgm_ops)`,
		`DELETE FROM tidemark_schema WHERE version >= 20`)
	var oldIndex bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('text_index_fields_subject') IS NOT NULL`).Scan(&oldIndex); err != nil || oldIndex {
		t.Fatalf("text_index_fields_subject still there: %v, %v", oldIndex, err)
	}
	appendInbox(t, s, "alice", "Subject: another report\r\n\r\nx\r\n")
	a, inbox := openInbox(t, s, "alice")
	all := store.UIDSet{{Start: 1, Stop: 100}}
	subject := func(stage, needle, want string) {
		t.Helper()
		h, err := a.(store.TextSearcher).SearchText(ctx, inbox.ID, store.TextSubject, needle, all)
		if err != nil || !h.OK || h.Sure.String() != want || !h.Maybe.Empty() {
			t.Fatalf("%s: SUBJECT %q: sure %q maybe %q ok %v, %v; want %q", stage, needle, h.Sure.String(), h.Maybe.String(), h.OK, err, want)
		}
	}
	subject("upgraded", "report", "1,3")
	subject("upgraded", "lunch", "2")
	var rows int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM text_index_subjects`).Scan(&rows); err != nil || rows != 3 {
		t.Fatalf("%d subject rows, %v; want 3", rows, err)
	}
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 1}}); err != nil {
		t.Fatal(err)
	}
	subject("expunged", "report", "3")
	if _, err := s.pool.Exec(ctx, `DELETE FROM contents WHERE id NOT IN (SELECT content_id FROM messages)`); err != nil {
		t.Fatal(err)
	}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM text_index_subjects`).Scan(&rows); err != nil || rows != 2 {
		t.Fatalf("%d subject rows after the contents went, %v; want 2", rows, err)
	}
}

// TestWordsUpgradeFromV20: a store at version 20 gets the word index
// empty, its stored mail marked missing: BODY and TEXT of a word answer
// the old mail from the trigrams and the new from the words, and after
// Reindex every row has its words and the mark is gone. An expunged and
// reclaimed message's words go with its contents.
func TestWordsUpgradeFromV20(t *testing.T) {
	s := upgradedWith(t, []string{"Subject: a\r\n\r\nThe Benchmark ran\r\n", "Subject: b\r\n\r\nbench mark\r\n"},
		`DROP TABLE text_index_words`, `DROP TABLE text_words`, `DROP TABLE text_words_missing`,
		`DELETE FROM tidemark_schema WHERE version >= 21`)
	missing := func() (n int) {
		t.Helper()
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM text_words_missing`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if missing() != 1 {
		t.Fatal("the stored mail is not marked as lacking its words")
	}
	appendInbox(t, s, "alice", "Subject: c\r\nX-Note: benchmarking\r\n\r\nbenchmarks\r\n", "Subject: d\r\nX-Note: benchmark\r\n\r\nnothing\r\n")
	a, inbox := openInbox(t, s, "alice")
	all := store.UIDSet{{Start: 1, Stop: 100}}
	check := func(stage string) {
		t.Helper()
		for _, c := range []struct {
			field        store.TextField
			needle, sure string
		}{
			{store.TextBody, "benchmark", "1,3"},
			{store.TextBody, "enchmar", "1,3"},
			{store.TextText, "benchmark", "1,3:4"},
			{store.TextBody, "bench mark", "2"},
			{store.TextBody, "zqzqzq", ""},
		} {
			h, err := a.(store.TextSearcher).SearchText(ctx, inbox.ID, c.field, c.needle, all)
			if err != nil || !h.OK || h.Sure.String() != c.sure || !h.Maybe.Empty() {
				t.Fatalf("%s: field %d %q: sure %q maybe %q ok %v, %v; want %q", stage, c.field, c.needle, h.Sure.String(), h.Maybe.String(), h.OK, err, c.sure)
			}
		}
	}
	check("upgraded")
	if err := s.Reindex(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if missing() != 0 {
		t.Fatal("still marked after Reindex")
	}
	var rows int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM text_index_words`).Scan(&rows); err != nil || rows != 4 {
		t.Fatalf("%d word rows, %v; want 4", rows, err)
	}
	check("reindexed")
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM contents WHERE id NOT IN (SELECT content_id FROM messages)`); err != nil {
		t.Fatal(err)
	}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM text_index_words`).Scan(&rows); err != nil || rows != 3 {
		t.Fatalf("%d word rows after the contents went, %v; want 3", rows, err)
	}
}
