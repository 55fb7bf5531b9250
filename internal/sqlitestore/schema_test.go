package sqlitestore

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestMigrateV1 rewrites a store's database into the version 1 layout
// (flags, keywords and modseq in each messages row), reopens it and checks
// that the conversion gives back the same mailboxes, message by message.
func TestMigrateV1(t *testing.T) {
	withChunkMax(t, 3)
	dir := t.TempDir()
	// Version 1 kept every body in a file.
	s := openStore(t, dir, Options{InlineBodyMax: -1})
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	a, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	inbox := mustMailbox(t, a, "INBOX")
	other, err := a.CreateMailbox(ctx, "other", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, a, inbox.ID, 8, store.Flags{Keywords: []string{"Work", "$Junk"}})
	appendN(t, a, other.ID, 4, store.Flags{System: store.FlagSeen})
	if _, err := a.SetFlags(ctx, inbox.ID, store.UIDSetOf(2, 3, 7), store.FlagsAdd, store.Flags{System: store.FlagFlagged, Keywords: []string{"later"}}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSetOf(4)); err != nil {
		t.Fatal(err)
	}
	var before []store.Snapshot
	for _, id := range []store.MailboxID{inbox.ID, other.ID} {
		snap, err := a.Snapshot(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, snap)
	}
	a.Close()
	s.Close()

	db, err := sql.Open("sqlite", dsn(filepath.Join(dir, "users", "alice", "meta.db"), false))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE old (mailbox_id INTEGER NOT NULL, uid INTEGER NOT NULL, modseq INTEGER NOT NULL,
			flags INTEGER NOT NULL, keywords TEXT NOT NULL, savedate INTEGER NOT NULL, size INTEGER NOT NULL,
			content_id INTEGER NOT NULL, PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID`,
		`INSERT INTO old SELECT mailbox_id, uid, 0, 0, '', savedate, size, content_id FROM messages`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
	for _, snap := range before {
		for _, m := range snap.Messages {
			if _, err := db.Exec(`UPDATE old SET modseq = ?, flags = ?, keywords = ? WHERE mailbox_id = ? AND uid = ?`,
				m.ModSeq, m.Flags.System, keywordText(m.Flags.Keywords), snap.Mailbox.ID, m.UID); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, q := range append(undoV4,
		`DROP TABLE messages`, `DROP TABLE message_chunks`, `DROP TABLE keyword_sets`,
		`DROP TABLE bodies`, `DROP INDEX contents_blob`,
		`ALTER TABLE old RENAME TO messages`,
		`CREATE INDEX messages_modseq ON messages (mailbox_id, modseq)`,
		`CREATE INDEX messages_content ON messages (content_id)`,
		`PRAGMA user_version = 1`,
	) {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
	db.Close()

	s = openStore(t, dir, Options{})
	a, err = s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, want := range before {
		got, err := a.Snapshot(ctx, want.Mailbox.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Mailbox.GUID == "" || got.Mailbox.GUID == want.Mailbox.GUID {
			t.Fatalf("converted mailbox has replicated id %q (was %q)", got.Mailbox.GUID, want.Mailbox.GUID)
		}
		got.Mailbox.GUID, want.Mailbox.GUID = "", ""
		got.Mailbox.Changed, want.Mailbox.Changed = 0, 0
		got.Mailbox.Created, want.Mailbox.Created = 0, 0
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after conversion:\n%v\nbefore:\n%v", got, want)
		}
	}
	assertClean(t, s, "alice")
	// The converted store keeps working: keyword sets are found again.
	res, err := a.SetFlags(ctx, inbox.ID, store.UIDSetOf(1), store.FlagsRemove, store.Flags{Keywords: []string{"work"}}, 0)
	if err != nil || len(res.Changed) != 1 || !slices.Equal(res.Changed[0].Flags.Keywords, []string{"$Junk"}) {
		t.Fatalf("set flags after conversion: %+v, %v", res, err)
	}
	assertClean(t, s, "alice")
}

// undoV7 turns a current database back into schema version 6.
var undoV7 = append(slices.Clone(undoV8),
	`DROP TABLE text_index`,
	`DROP TABLE text_index_fields`,
	`DROP TABLE text_index_partial`,
	`DELETE FROM meta WHERE key = 'text_index_missing_upto'`,
)

// undoV6 turns a current database back into schema version 5.
var undoV6 = append(slices.Clone(undoV7),
	`DROP INDEX mailboxes_guid`,
	`ALTER TABLE mailboxes DROP COLUMN guid`,
	`ALTER TABLE mailboxes DROP COLUMN changed`,
	`ALTER TABLE mailboxes DROP COLUMN history_from`,
	`ALTER TABLE mailboxes DROP COLUMN created`,
	`ALTER TABLE subscriptions DROP COLUMN changed`,
	`DROP TABLE mailbox_tombstones`,
	`DROP TABLE unsubscribed`,
	`DROP TABLE replica_state`,
	`DROP TABLE flag_history`,
	`DROP TABLE expunged_ids`,
)

// undoV5 turns a current database back into schema version 4.
var undoV5 = append(slices.Clone(undoV6), `DROP TABLE sync_state`, `DROP TABLE uidvalidity_history`,
	`DELETE FROM meta WHERE key = 'uidvalidity_history_from'`)

// undoV4 turns a current database back into schema version 3.
var undoV4 = append(slices.Clone(undoV5), `ALTER TABLE mailboxes DROP COLUMN recent_uid`)

// TestMigrateV5 converts a version 5 database: every mailbox gets a
// distinct replicated id, messages and subscriptions stay, and the
// replication tables work.
func TestMigrateV5(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	a := aliceAccount(t, s)
	inbox := mustMailbox(t, a, "INBOX")
	if _, err := a.CreateMailbox(ctx, "a/b", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetSubscribed(ctx, "a", true); err != nil {
		t.Fatal(err)
	}
	appendN(t, a, inbox.ID, 3, store.Flags{})
	a.Close()
	s.Close()
	downgradeAlice(t, dir, append(undoV6, `PRAGMA user_version = 5`)...)

	s = openStore(t, dir, Options{})
	r, err := s.OpenReplica(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	st, err := r.AccountState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range st.Mailboxes {
		if len(m.GUID) != 25 || seen[m.GUID] {
			t.Fatalf("mailbox %q: replicated id %q", m.Name, m.GUID)
		}
		seen[m.GUID] = true
	}
	if len(st.Mailboxes) != 3 || len(st.Subscriptions) != 1 || !st.Subscriptions[0].Subscribed {
		t.Fatalf("after conversion: %+v", st)
	}
	got, err := r.(*Replica).a.Snapshot(ctx, inbox.ID)
	if err != nil || len(got.Messages) != 3 {
		t.Fatalf("snapshot %+v, %v", got, err)
	}
	assertClean(t, s, "alice")
}
