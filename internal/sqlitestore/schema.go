package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// schemaVersion is stored in PRAGMA user_version; see the package doc.
const schemaVersion = 17

const schemaV2 = `
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE mailboxes (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	name          TEXT NOT NULL UNIQUE,
	uidvalidity   INTEGER NOT NULL,
	uidnext       INTEGER NOT NULL,
	highestmodseq INTEGER NOT NULL,
	special_use   TEXT NOT NULL DEFAULT '',
	messages      INTEGER NOT NULL DEFAULT 0,
	unseen        INTEGER NOT NULL DEFAULT 0,
	deleted       INTEGER NOT NULL DEFAULT 0,
	size          INTEGER NOT NULL DEFAULT 0,
	pruned_below  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE subscriptions (
	name TEXT PRIMARY KEY
) WITHOUT ROWID;

CREATE TABLE contents (
	id                INTEGER PRIMARY KEY AUTOINCREMENT,
	blob_id           TEXT NOT NULL,
	size              INTEGER NOT NULL,
	internaldate      INTEGER NOT NULL,
	internaldate_zone INTEGER NOT NULL,
	email_id          TEXT NOT NULL,
	thread_id         TEXT NOT NULL,
	structure         BLOB NOT NULL
);

` + schemaV2Messages + `
CREATE TABLE tombstones (
	mailbox_id INTEGER NOT NULL,
	uid_start  INTEGER NOT NULL,
	uid_stop   INTEGER NOT NULL,
	modseq     INTEGER NOT NULL,
	PRIMARY KEY (mailbox_id, uid_start)
) WITHOUT ROWID;
CREATE INDEX tombstones_modseq ON tombstones (mailbox_id, modseq);

CREATE TABLE thread_refs (
	message_id TEXT PRIMARY KEY,
	thread_id  TEXT NOT NULL
) WITHOUT ROWID;
`

// schemaV3Bodies is what schema version 3 added: message bodies stored
// inside the database, and the index that finds the last contents row of a
// body.
const schemaV3Bodies = `
CREATE TABLE bodies (
	id   TEXT PRIMARY KEY,
	data BLOB NOT NULL
);
CREATE INDEX contents_blob ON contents (blob_id);
`

// schemaV5Replica is what schema version 5 added for store.Replica:
// sync state per peer, written in the transactions whose changes it
// covers, and the UIDVALIDITYs each mailbox name has had, so that a
// chosen UIDVALIDITY can be proved unused for a name. Upgrading records
// the mailboxes' current values; reconcile then records in meta below
// which value the history is incomplete (the manifest's next
// UIDVALIDITY at that moment).
const schemaV5Replica = `
CREATE TABLE IF NOT EXISTS sync_state (
	peer  TEXT NOT NULL,
	key   TEXT NOT NULL,
	value BLOB NOT NULL,
	PRIMARY KEY (peer, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uidvalidity_history (
	name        TEXT NOT NULL,
	uidvalidity INTEGER NOT NULL,
	PRIMARY KEY (name, uidvalidity)
) WITHOUT ROWID;
INSERT OR IGNORE INTO uidvalidity_history (name, uidvalidity) SELECT name, uidvalidity FROM mailboxes;
`

// schemaV4Recent is what schema version 4 added: each mailbox's recent
// floor, the lowest UID no session has claimed as \Recent (RFC 3501
// 2.3.2; store.RecentStore). A new mailbox starts at 1.
const schemaV4Recent = `
ALTER TABLE mailboxes ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 1;
`

// migrateV3Recent adds the recent floor. Messages already stored when the
// database is upgraded are not recent: the floor starts at UIDNEXT.
func migrateV3Recent(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, schemaV4Recent); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE mailboxes SET recent_uid = uidnext`)
	return err
}

// schemaV6Replication is what schema version 6 added for replication
// between servers (see the package doc): a replicated id per mailbox, the
// account-level change log (a counter, mailbox tombstones, subscription
// changes), per-peer sync state, and the flag history kept for conflict
// merges. Existing mailboxes get a fresh replicated id.
const schemaV6Replication = `
ALTER TABLE mailboxes ADD COLUMN guid TEXT NOT NULL DEFAULT '';
ALTER TABLE mailboxes ADD COLUMN changed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN history_from INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN created INTEGER NOT NULL DEFAULT 0;
UPDATE mailboxes SET guid = 'M' || lower(hex(randomblob(12)));
CREATE UNIQUE INDEX mailboxes_guid ON mailboxes (guid);

ALTER TABLE subscriptions ADD COLUMN changed INTEGER NOT NULL DEFAULT 0;

CREATE TABLE mailbox_tombstones (
	guid    TEXT PRIMARY KEY,
	name    TEXT NOT NULL,
	changed INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE unsubscribed (
	name    TEXT PRIMARY KEY,
	changed INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE replica_state (
	peer    TEXT NOT NULL,
	guid    TEXT NOT NULL,
	applied INTEGER NOT NULL,
	confirmed INTEGER NOT NULL,
	uidnext INTEGER NOT NULL,
	PRIMARY KEY (peer, guid)
) WITHOUT ROWID;

CREATE TABLE expunged_ids (
	mailbox_id INTEGER NOT NULL,
	uid        INTEGER NOT NULL,
	email_id   TEXT NOT NULL,
	modseq     INTEGER NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;

CREATE TABLE flag_history (
	mailbox_id INTEGER NOT NULL,
	uid        INTEGER NOT NULL,
	modseq     INTEGER NOT NULL,
	replaced   INTEGER NOT NULL,
	flags      INTEGER NOT NULL,
	keywords   INTEGER NOT NULL,
	PRIMARY KEY (mailbox_id, uid, modseq)
) WITHOUT ROWID;
`

// schemaV2Messages is the part of the schema version 2 changed.
const schemaV2Messages = `
CREATE TABLE messages (
	mailbox_id INTEGER NOT NULL,
	uid        INTEGER NOT NULL,
	savedate   INTEGER NOT NULL,
	size       INTEGER NOT NULL,
	content_id INTEGER NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX messages_content ON messages (content_id);

CREATE TABLE message_chunks (
	id         INTEGER PRIMARY KEY,
	mailbox_id INTEGER NOT NULL,
	first_uid  INTEGER NOT NULL,
	last_uid   INTEGER NOT NULL,
	count      INTEGER NOT NULL,
	max_modseq INTEGER NOT NULL,
	data       BLOB NOT NULL
);
CREATE UNIQUE INDEX message_chunks_uid ON message_chunks (mailbox_id, first_uid);
CREATE INDEX message_chunks_modseq ON message_chunks (mailbox_id, max_modseq);

CREATE TABLE keyword_sets (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	keywords TEXT NOT NULL UNIQUE
);
`

// migrate brings a database to schemaVersion.
func migrate(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	switch {
	case v == schemaVersion:
		return nil
	case v > schemaVersion:
		return fmt.Errorf("schema version %d is newer than this program's %d", v, schemaVersion)
	case v < 0:
		return fmt.Errorf("schema version %d is not supported", v)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	switch v {
	case 0:
		// A new database's UIDVALIDITY history is complete from the start.
		if _, err := tx.ExecContext(ctx, schemaV2+schemaV3Bodies+schemaV4Recent+schemaV5Replica+schemaV6Replication+schemaV7TextIndex+schemaV8Metadata+schemaV9Summary+schemaV10ACL+schemaV11AccessKeys+schemaV12FlagStamps+schemaV13SharingStamps+schemaV15SharingPeers+schemaV16TextSplit+schemaV17TextWords+
			`INSERT INTO meta (key, value) VALUES ('uidvalidity_history_from', 0);`); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	case 1:
		if err := migrateV1(ctx, tx); err != nil {
			return fmt.Errorf("convert schema version 1: %w", err)
		}
		fallthrough
	case 2:
		// Version 3 only adds: bodies already in files stay there.
		if _, err := tx.ExecContext(ctx, schemaV3Bodies); err != nil {
			return fmt.Errorf("convert schema version 2: %w", err)
		}
		fallthrough
	case 3:
		if err := migrateV3Recent(ctx, tx); err != nil {
			return fmt.Errorf("convert schema version 3: %w", err)
		}
		fallthrough
	case 4:
		if _, err := tx.ExecContext(ctx, schemaV5Replica); err != nil {
			return fmt.Errorf("convert schema version 4: %w", err)
		}
		fallthrough
	case 5:
		// Version 6 only adds tables and columns.
		if _, err := tx.ExecContext(ctx, schemaV6Replication); err != nil {
			return fmt.Errorf("convert schema version 5: %w", err)
		}
		fallthrough
	case 6:
		// Version 7 adds the text index, marked missing for every stored
		// message until Reindex builds it (textindex.go).
		if _, err := tx.ExecContext(ctx, schemaV7TextIndex); err != nil {
			return fmt.Errorf("convert schema version 6: %w", err)
		}
		fallthrough
	case 7:
		// Version 8 only adds the metadata table (metadata.go).
		if _, err := tx.ExecContext(ctx, schemaV8Metadata); err != nil {
			return fmt.Errorf("convert schema version 7: %w", err)
		}
		fallthrough
	case 8:
		// Version 9 adds the summary columns, NULL for the stored messages
		// until Reindex fills them in (summary.go).
		if _, err := tx.ExecContext(ctx, schemaV9Summary); err != nil {
			return fmt.Errorf("convert schema version 8: %w", err)
		}
		fallthrough
	case 9:
		// Version 10 only adds the access control lists (acl.go).
		if _, err := tx.ExecContext(ctx, schemaV10ACL); err != nil {
			return fmt.Errorf("convert schema version 9: %w", err)
		}
		fallthrough
	case 10:
		// Version 11 only adds the URLAUTH access keys (accesskey.go).
		if _, err := tx.ExecContext(ctx, schemaV11AccessKeys); err != nil {
			return fmt.Errorf("convert schema version 10: %w", err)
		}
		fallthrough
	case 11:
		// Version 12 only adds the flag stamps of replication
		// (flagstamps.go): every flag starts at stamp 0.
		if _, err := tx.ExecContext(ctx, schemaV12FlagStamps); err != nil {
			return fmt.Errorf("convert schema version 11: %w", err)
		}
		fallthrough
	case 12:
		// Version 13 adds the replication stamps of ACL entries and access
		// keys (sharing.go).
		if _, err := tx.ExecContext(ctx, schemaV13SharingStamps); err != nil {
			return fmt.Errorf("convert schema version 12: %w", err)
		}
		fallthrough
	case 13:
		// Version 14 changes no table: bodies written from now on may be
		// compressed with the dictionary (compress.go) and new contents
		// rows keep no preview (summary.go). Rows written before read as
		// they are; the number only keeps an older program, which knows
		// neither, from opening the database.
		fallthrough
	case 14:
		// Version 15 only adds what replication peers held of the ACL
		// entries and access keys (sharingpeers.go).
		if _, err := tx.ExecContext(ctx, schemaV15SharingPeers); err != nil {
			return fmt.Errorf("convert schema version 14: %w", err)
		}
		fallthrough
	case 15:
		// Version 16 splits the text index's header and body
		// (textindex.go); the index is written again behind.
		if err := migrateV15TextSplit(ctx, tx); err != nil {
			return fmt.Errorf("convert schema version 15: %w", err)
		}
		fallthrough
	case 16:
		// Version 17 adds the word index of BODY (textwords.go), written
		// for new mail; the stored mail's words wait for Reindex.
		if err := migrateV16TextWords(ctx, tx); err != nil {
			return fmt.Errorf("convert schema version 16: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// migrateV1 converts a version 1 database in place: the old messages
// table (flags, keywords and modseq in each row) is split into the new
// messages rows, keyword_sets and packed chunks. Every other table is
// unchanged.
func migrateV1(ctx context.Context, tx *sql.Tx) error {
	steps := []string{
		`ALTER TABLE messages RENAME TO messages_v1`,
		`DROP INDEX messages_modseq`,
		`DROP INDEX messages_content`,
		schemaV2Messages,
		`INSERT INTO messages (mailbox_id, uid, savedate, size, content_id)
			SELECT mailbox_id, uid, savedate, size, content_id FROM messages_v1`,
		`INSERT INTO keyword_sets (keywords) SELECT DISTINCT keywords FROM messages_v1 WHERE keywords != '' ORDER BY keywords`,
	}
	for _, q := range steps {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT m.mailbox_id, m.uid, m.modseq, m.flags, coalesce(k.id, 0)
		FROM messages_v1 m LEFT JOIN keyword_sets k ON k.keywords = m.keywords ORDER BY m.mailbox_id, m.uid`)
	if err != nil {
		return err
	}
	defer rows.Close()
	t := &writeTx{ctx: ctx, tx: tx, q: &txStmts{tx: tx}}
	var (
		pending []entry
		mailbox store.MailboxID
	)
	var chunks []*chunk
	flush := func() {
		for len(pending) > 0 {
			n := min(chunkMax, len(pending))
			chunks = append(chunks, &chunk{mailbox: mailbox, entries: pending[:n:n], dirty: true})
			pending = pending[n:]
		}
		pending = nil
	}
	for rows.Next() {
		var mb store.MailboxID
		var e entry
		if err := rows.Scan(&mb, &e.uid, &e.modseq, &e.flags, &e.kw); err != nil {
			return err
		}
		if mb != mailbox {
			flush()
			mailbox = mb
		}
		pending = append(pending, e)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	flush()
	if err := t.saveChunks(chunks); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `DROP TABLE messages_v1`)
	return err
}
