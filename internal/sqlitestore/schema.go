package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
)

// schemaVersion is stored in PRAGMA user_version; see the package doc.
const schemaVersion = 1

const schemaV1 = `
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

CREATE TABLE messages (
	mailbox_id INTEGER NOT NULL,
	uid        INTEGER NOT NULL,
	modseq     INTEGER NOT NULL,
	flags      INTEGER NOT NULL,
	keywords   TEXT NOT NULL,
	savedate   INTEGER NOT NULL,
	size       INTEGER NOT NULL,
	content_id INTEGER NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);
CREATE INDEX messages_content ON messages (content_id);

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
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, schemaV1); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}
