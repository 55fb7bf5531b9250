package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// schemaV16SharingStamps gives each ACL entry and access key the stamp under
// which it replicates (store.ACLRecord, store.AccessKeyRecord); a removed
// entry keeps its row with no rights, a removed key its row with an
// empty key. Rows from before take stamp 0, so any replicated change
// beats them.
const schemaV16SharingStamps = `
ALTER TABLE acl ADD COLUMN stamp bigint NOT NULL DEFAULT 0;
ALTER TABLE access_keys ADD COLUMN stamp bigint NOT NULL DEFAULT 0;
`

// sharingStamp returns the stamp of a change of the user's entries or
// keys made now (store.NextStamp).
func sharingStamp(ctx context.Context, q querier, userID int64) (uint64, error) {
	var hi int64
	err := q.QueryRow(ctx, `SELECT greatest(
		coalesce((SELECT max(stamp) FROM acl WHERE user_id = $1), 0),
		coalesce((SELECT max(stamp) FROM access_keys WHERE user_id = $1), 0))`, userID).Scan(&hi)
	if err != nil {
		return 0, fmt.Errorf("read sharing stamp: %w", err)
	}
	return store.NextStamp(time.Now(), uint64(hi)), nil
}

// mailboxByGUID returns the id of the user's mailbox with a replicated
// id; ok false when there is none.
func mailboxByGUID(ctx context.Context, q querier, userID int64, guid string) (store.MailboxID, bool, error) {
	var id store.MailboxID
	err := q.QueryRow(ctx, `SELECT id FROM mailboxes WHERE user_id = $1 AND guid = $2`, userID, guid).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

func putACL(ctx context.Context, tx pgx.Tx, userID int64, id store.MailboxID, identifier, rights string, stamp uint64) error {
	if _, err := tx.Exec(ctx, `INSERT INTO acl (user_id, mailbox_id, identifier, rights, stamp) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id, mailbox_id, identifier) DO UPDATE SET rights = excluded.rights, stamp = excluded.stamp`,
		userID, id, identifier, rights, int64(stamp)); err != nil {
		return fmt.Errorf("set acl: %w", err)
	}
	return nil
}

// putAccessKey sets mailbox id's key (empty: removed) with its stamp.
func putAccessKey(ctx context.Context, tx pgx.Tx, userID int64, id store.MailboxID, key []byte, stamp uint64) error {
	if key == nil {
		key = []byte{}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO access_keys (user_id, mailbox_id, key, stamp) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, mailbox_id) DO UPDATE SET key = excluded.key, stamp = excluded.stamp`,
		userID, id, key, int64(stamp)); err != nil {
		return fmt.Errorf("set access key: %w", err)
	}
	return nil
}

var _ store.ACLReplica = (*aclHandle)(nil)

func (h *aclHandle) ACLRecords(ctx context.Context) ([]store.ACLRecord, error) {
	rows, err := h.a.s.pool.Query(ctx, `SELECT mb.guid, a.identifier, a.rights, a.stamp
		FROM acl a JOIN mailboxes mb ON mb.id = a.mailbox_id AND mb.user_id = a.user_id
		WHERE a.user_id = $1 ORDER BY mb.guid COLLATE "C", a.identifier COLLATE "C"`, h.a.id)
	if err != nil {
		return nil, fmt.Errorf("read acl: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.ACLRecord, error) {
		var rec store.ACLRecord
		var stamp int64
		err := r.Scan(&rec.Mailbox, &rec.Identifier, &rec.Rights, &stamp)
		rec.Stamp = uint64(stamp)
		return rec, err
	})
}

func (h *aclHandle) ApplyACLRecords(ctx context.Context, recs []store.ACLRecord) (int, error) {
	var n int
	err := h.a.write(ctx, func(t *writeTx) (err error) {
		n, err = store.ApplyRecords(recs, func(r store.ACLRecord) (store.MailboxID, bool, error) {
			return mailboxByGUID(ctx, t.tx, t.userID, r.Mailbox)
		}, func(id store.MailboxID, r store.ACLRecord) (store.ACLRecord, bool, error) {
			cur := store.ACLRecord{Mailbox: r.Mailbox, Identifier: r.Identifier}
			var stamp int64
			err := t.tx.QueryRow(ctx, `SELECT rights, stamp FROM acl WHERE user_id = $1 AND mailbox_id = $2 AND identifier = $3`,
				t.userID, id, r.Identifier).Scan(&cur.Rights, &stamp)
			cur.Stamp = uint64(stamp)
			return cur, err == nil, noRow(err, "read acl")
		}, func(id store.MailboxID, r store.ACLRecord) error {
			return putACL(ctx, t.tx, t.userID, id, r.Identifier, r.Rights, r.Stamp)
		})
		return err
	})
	return n, err
}

// noRow is err, except that no row is no error.
func noRow(err error, what string) error {
	if err == nil || errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

var _ store.AccessKeyReplica = (*metadataHandle)(nil)

func (k *metadataHandle) AccessKeyRecords(ctx context.Context) ([]store.AccessKeyRecord, error) {
	rows, err := k.a.s.pool.Query(ctx, `SELECT mb.guid, ak.key, ak.stamp
		FROM access_keys ak JOIN mailboxes mb ON mb.id = ak.mailbox_id AND mb.user_id = ak.user_id
		WHERE ak.user_id = $1 ORDER BY mb.guid COLLATE "C"`, k.a.id)
	if err != nil {
		return nil, fmt.Errorf("read access keys: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AccessKeyRecord, error) {
		var rec store.AccessKeyRecord
		var stamp int64
		err := r.Scan(&rec.Mailbox, &rec.Key, &stamp)
		rec.Stamp = uint64(stamp)
		return rec, err
	})
}

func (k *metadataHandle) ApplyAccessKeyRecords(ctx context.Context, recs []store.AccessKeyRecord) (int, error) {
	var n int
	err := k.a.write(ctx, func(t *writeTx) (err error) {
		n, err = store.ApplyRecords(recs, func(r store.AccessKeyRecord) (store.MailboxID, bool, error) {
			return mailboxByGUID(ctx, t.tx, t.userID, r.Mailbox)
		}, func(id store.MailboxID, r store.AccessKeyRecord) (store.AccessKeyRecord, bool, error) {
			cur := store.AccessKeyRecord{Mailbox: r.Mailbox}
			var stamp int64
			err := t.tx.QueryRow(ctx, `SELECT key, stamp FROM access_keys WHERE user_id = $1 AND mailbox_id = $2`,
				t.userID, id).Scan(&cur.Key, &stamp)
			cur.Stamp = uint64(stamp)
			return cur, err == nil, noRow(err, "read access key")
		}, func(id store.MailboxID, r store.AccessKeyRecord) error {
			return putAccessKey(ctx, t.tx, t.userID, id, r.Key, r.Stamp)
		})
		return err
	})
	return n, err
}
