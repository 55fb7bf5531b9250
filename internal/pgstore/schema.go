package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations are the schema versions in order: migrations[i] takes the
// database from version i to i+1. A migration is never edited once
// released; a change is a new entry. See the package doc for the tables.
var migrations = []string{
	schemaV1,
	schemaV2Recent,
	schemaV3Orphans,
	schemaV4GUID,
	schemaV5Replica,
	schemaV6Placement,
	schemaV7Defaults,
	schemaV8Settings,
	schemaV9TextIndex,      // textindex.go
	schemaV10Metadata,      // metadata.go
	schemaV11ChangeLog,     // changelog.go
	schemaV12Summary,       // summary.go
	schemaV13ACL,           // acl.go
	schemaV14AccessKeys,    // accesskey.go
	schemaV15FlagStamps,    // flagstamps.go
	schemaV16SharingStamps, // sharing.go
	schemaV17Accounts,      // accounts.go
	schemaV18TextTables,    // textindex.go
	schemaV19AccountPeers + schemaV19SharingPeers, // accounts.go, sharingpeers.go
	schemaV20Subjects, // textindex.go
	schemaV21Words,    // textindex.go
}

const schemaV1 = `
CREATE TABLE users (
	id               bigserial PRIMARY KEY,
	name             text NOT NULL UNIQUE,
	uidvalidity_next bigint NOT NULL DEFAULT 1
);

CREATE TABLE mailboxes (
	id            bigserial PRIMARY KEY,
	user_id       bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	name          text NOT NULL,
	uidvalidity   bigint NOT NULL,
	uidnext       bigint NOT NULL,
	highestmodseq bigint NOT NULL,
	special_use   text NOT NULL DEFAULT '',
	messages      bigint NOT NULL DEFAULT 0,
	unseen        bigint NOT NULL DEFAULT 0,
	deleted       bigint NOT NULL DEFAULT 0,
	size          bigint NOT NULL DEFAULT 0,
	pruned_below  bigint NOT NULL DEFAULT 0,
	UNIQUE (user_id, name)
);

CREATE TABLE subscriptions (
	user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	name    text NOT NULL,
	PRIMARY KEY (user_id, name)
);

CREATE TABLE bodies (
	id   text PRIMARY KEY,
	size bigint NOT NULL
);

CREATE TABLE body_parts (
	body_id text NOT NULL REFERENCES bodies ON DELETE CASCADE,
	part    integer NOT NULL,
	data    bytea NOT NULL,
	PRIMARY KEY (body_id, part)
);

CREATE TABLE contents (
	id                bigserial PRIMARY KEY,
	user_id           bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	blob_id           text NOT NULL REFERENCES bodies,
	size              bigint NOT NULL,
	internaldate      bigint NOT NULL,
	internaldate_zone integer NOT NULL,
	email_id          text NOT NULL,
	thread_id         text NOT NULL,
	structure         bytea NOT NULL
);
CREATE INDEX contents_blob ON contents (blob_id);
CREATE INDEX contents_user ON contents (user_id);

CREATE TABLE messages (
	mailbox_id bigint NOT NULL REFERENCES mailboxes ON DELETE CASCADE,
	uid        bigint NOT NULL,
	modseq     bigint NOT NULL,
	flags      smallint NOT NULL,
	keywords   text[] NOT NULL DEFAULT '{}',
	savedate   bigint NOT NULL,
	size       bigint NOT NULL,
	content_id bigint NOT NULL REFERENCES contents,
	PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);
CREATE INDEX messages_content ON messages (content_id);

CREATE TABLE tombstones (
	mailbox_id bigint NOT NULL REFERENCES mailboxes ON DELETE CASCADE,
	uid_start  bigint NOT NULL,
	uid_stop   bigint NOT NULL,
	modseq     bigint NOT NULL,
	PRIMARY KEY (mailbox_id, uid_start)
);
CREATE INDEX tombstones_modseq ON tombstones (mailbox_id, modseq);

CREATE TABLE thread_refs (
	user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	message_id text NOT NULL,
	thread_id  text NOT NULL,
	PRIMARY KEY (user_id, message_id)
);
`

// schemaV2Recent adds the IMAP4rev1 \Recent floor (store.RecentStore):
// the lowest UID no session has claimed. Messages already stored when it
// is added are not recent.
const schemaV2Recent = `
ALTER TABLE mailboxes ADD COLUMN recent_uid bigint NOT NULL DEFAULT 1;
UPDATE mailboxes SET recent_uid = uidnext;
`

// schemaV3Orphans keeps the contents (and so the bytes) of expunged
// messages until a reclamation pass: a session may still be reading a
// message that another expunges (store.Account.Messages).
const schemaV3Orphans = `
ALTER TABLE contents ADD COLUMN orphaned_at timestamptz;
CREATE INDEX contents_orphaned ON contents (orphaned_at) WHERE orphaned_at IS NOT NULL;
`

// schemaV4GUID gives every mailbox its RFC 8474 MAILBOXID
// (store.MailboxInfo.GUID),
// kept by renames; mailboxes that exist get one now.
const schemaV4GUID = `
ALTER TABLE mailboxes ADD COLUMN guid text NOT NULL DEFAULT '';
UPDATE mailboxes SET guid = 'M' || substr(md5(random()::text || id::text), 1, 24) WHERE guid = '';
`

// schemaV5Replica is what store.Replica needs (import, migration,
// replication between servers; see the package doc): the account change
// counter and the stamps it hands out, mailbox tombstones, removed
// subscriptions, the UIDVALIDITY history that proves a chosen value
// unused, opaque and typed per-peer sync state, the EMAILIDs of expunged
// UIDs and the flag history of replicated mailboxes. The history of a
// user that exists when it is added is complete only from its next
// UIDVALIDITY on.
const schemaV5Replica = `
ALTER TABLE users ADD COLUMN account_counter bigint NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN uidvalidity_history_from bigint NOT NULL DEFAULT 0;
UPDATE users SET uidvalidity_history_from = uidvalidity_next;

ALTER TABLE mailboxes ADD COLUMN changed bigint NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN created bigint NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN history_from bigint NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX mailboxes_guid ON mailboxes (user_id, guid);

ALTER TABLE subscriptions ADD COLUMN changed bigint NOT NULL DEFAULT 0;

CREATE TABLE unsubscribed (
	user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	name    text NOT NULL,
	changed bigint NOT NULL,
	PRIMARY KEY (user_id, name)
);

CREATE TABLE mailbox_tombstones (
	user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	guid    text NOT NULL,
	name    text NOT NULL,
	changed bigint NOT NULL,
	PRIMARY KEY (user_id, guid)
);

CREATE TABLE uidvalidity_history (
	user_id     bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	name        text NOT NULL,
	uidvalidity bigint NOT NULL,
	PRIMARY KEY (user_id, name, uidvalidity)
);
INSERT INTO uidvalidity_history (user_id, name, uidvalidity) SELECT user_id, name, uidvalidity FROM mailboxes;

CREATE TABLE sync_state (
	user_id bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	peer    text NOT NULL,
	key     text NOT NULL,
	value   bytea NOT NULL,
	PRIMARY KEY (user_id, peer, key)
);

CREATE TABLE replica_state (
	user_id   bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	peer      text NOT NULL,
	guid      text NOT NULL,
	applied   bigint NOT NULL,
	confirmed bigint NOT NULL,
	uidnext   bigint NOT NULL,
	PRIMARY KEY (user_id, peer, guid)
);

CREATE TABLE expunged_ids (
	mailbox_id bigint NOT NULL REFERENCES mailboxes ON DELETE CASCADE,
	uid        bigint NOT NULL,
	email_id   text NOT NULL,
	modseq     bigint NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
);

CREATE TABLE flag_history (
	mailbox_id bigint NOT NULL REFERENCES mailboxes ON DELETE CASCADE,
	uid        bigint NOT NULL,
	modseq     bigint NOT NULL,
	replaced   bigint NOT NULL,
	flags      smallint NOT NULL,
	keywords   text[] NOT NULL,
	PRIMARY KEY (mailbox_id, uid, modseq)
);
`

// schemaV6Placement is what moving a user between clusters needs
// (move.go): the write fence on the user being moved, and, on the
// default cluster, the user directory entries that moves record.
const schemaV6Placement = `
ALTER TABLE users ADD COLUMN moving boolean NOT NULL DEFAULT false;
CREATE TABLE user_placement (
	name    text PRIMARY KEY,
	shard   text NOT NULL,
	changed timestamptz NOT NULL DEFAULT now()
);
`

// schemaV7Defaults records, per user, that the default mailboxes were
// given (store.DefaultCreator): users that exist get them at their next
// login, once.
const schemaV7Defaults = `
ALTER TABLE users ADD COLUMN defaults_given boolean NOT NULL DEFAULT false;
`

// schemaV8Settings keeps the state every front end must share that is
// not mail (store.Settings: SETQUOTA limits, retention watermarks).
const schemaV8Settings = `
CREATE TABLE settings (
	key   text PRIMARY KEY,
	value bytea NOT NULL
);
`

// migrationLock is the advisory lock key held while migrating, so that
// nodes starting at once apply each migration exactly once ("tdmk").
const migrationLock = 0x74646d6b

// SchemaVersion is the version this code writes and reads.
var SchemaVersion = len(migrations)

// migrate brings the schema to SchemaVersion in one transaction, under an
// advisory lock: a second node starting meanwhile waits, then finds
// nothing left to do. A database newer than this code is refused.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS tidemark_schema (
			version integer PRIMARY KEY,
			applied timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("schema table: %w", err)
		}
		var v int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM tidemark_schema`).Scan(&v); err != nil {
			return fmt.Errorf("schema version: %w", err)
		}
		if v > len(migrations) {
			return fmt.Errorf("database schema version %d is newer than this program's %d", v, len(migrations))
		}
		for ; v < len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migrate to version %d: %w", v+1, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO tidemark_schema (version) VALUES ($1)`, v+1); err != nil {
				return err
			}
		}
		return nil
	})
}
