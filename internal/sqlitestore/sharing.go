package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// schemaV13SharingStamps gives each ACL entry and access key the stamp
// under which it replicates (store.ACLRecord, store.AccessKeyRecord); a
// removed entry keeps its row with no rights, a removed key its row with
// an empty key. Rows from before take stamp 0, so any replicated change
// beats them.
const schemaV13SharingStamps = `
ALTER TABLE acl ADD COLUMN stamp INTEGER NOT NULL DEFAULT 0;
ALTER TABLE access_keys ADD COLUMN stamp INTEGER NOT NULL DEFAULT 0;
`

// sharingStamp returns the stamp of a change of the user's entries or
// keys made now (store.NextStamp).
func sharingStamp(ctx context.Context, q querier) (uint64, error) {
	var hi int64
	err := q.QueryRowContext(ctx, `SELECT max(coalesce((SELECT max(stamp) FROM acl), 0),
		coalesce((SELECT max(stamp) FROM access_keys), 0))`).Scan(&hi)
	if err != nil {
		return 0, fmt.Errorf("read sharing stamp: %w", err)
	}
	return store.NextStamp(time.Now(), uint64(hi)), nil
}

// mailboxByGUID returns the id of the mailbox with a replicated id; ok
// false when there is none.
func mailboxByGUID(ctx context.Context, q querier, guid string) (store.MailboxID, bool, error) {
	var id store.MailboxID
	err := q.QueryRowContext(ctx, `SELECT id FROM mailboxes WHERE guid = ?`, guid).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

var _ store.ACLReplica = (*aclHandle)(nil)

func (h *aclHandle) ACLRecords(ctx context.Context) ([]store.ACLRecord, error) {
	rows, err := h.a.u.r.QueryContext(ctx, `SELECT mb.guid, a.identifier, a.rights, a.stamp
		FROM acl a JOIN mailboxes mb ON mb.id = a.mailbox_id ORDER BY mb.guid, a.identifier`)
	if err != nil {
		return nil, fmt.Errorf("read acl: %w", err)
	}
	defer rows.Close()
	var out []store.ACLRecord
	for rows.Next() {
		var r store.ACLRecord
		var stamp int64
		if err := rows.Scan(&r.Mailbox, &r.Identifier, &r.Rights, &stamp); err != nil {
			return nil, err
		}
		r.Stamp = uint64(stamp)
		out = append(out, r)
	}
	return out, rows.Err()
}

func (h *aclHandle) ApplyACLRecords(ctx context.Context, recs []store.ACLRecord) (int, error) {
	h.s.aclMu.Lock()
	defer h.s.aclMu.Unlock()
	// Markers first, for removals too (ensureMarker).
	var valid []store.ACLRecord
	marked := map[string]bool{}
	for _, r := range recs {
		if _, err := ValidUserName(r.Identifier); err != nil {
			continue
		}
		valid = append(valid, r)
		if !marked[r.Identifier] {
			marked[r.Identifier] = true
			if err := h.ensureMarker(ctx, r.Identifier); err != nil {
				return 0, err
			}
		}
	}
	var n int
	err := h.a.u.write(ctx, func(t *writeTx) (err error) {
		n, err = store.ApplyRecords(valid, func(r store.ACLRecord) (store.MailboxID, bool, error) {
			return mailboxByGUID(ctx, t.tx, r.Mailbox)
		}, func(id store.MailboxID, r store.ACLRecord) (store.ACLRecord, bool, error) {
			cur := store.ACLRecord{Mailbox: r.Mailbox, Identifier: r.Identifier}
			var stamp int64
			err := t.tx.QueryRowContext(ctx, `SELECT rights, stamp FROM acl WHERE mailbox_id = ? AND identifier = ?`,
				id, r.Identifier).Scan(&cur.Rights, &stamp)
			cur.Stamp = uint64(stamp)
			return cur, err == nil, noRow(err, "read acl")
		}, func(id store.MailboxID, r store.ACLRecord) error {
			return putACL(ctx, t.tx, id, r.Identifier, r.Rights, r.Stamp)
		})
		return err
	})
	return n, err
}

// noRow is err, except that no row is no error.
func noRow(err error, what string) error {
	if err == nil || errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

var _ store.AccessKeyReplica = (*metadataHandle)(nil)

func (k *metadataHandle) AccessKeyRecords(ctx context.Context) ([]store.AccessKeyRecord, error) {
	rows, err := k.a.u.r.QueryContext(ctx, `SELECT mb.guid, ak.key, ak.stamp
		FROM access_keys ak JOIN mailboxes mb ON mb.id = ak.mailbox_id ORDER BY mb.guid`)
	if err != nil {
		return nil, fmt.Errorf("read access keys: %w", err)
	}
	defer rows.Close()
	var out []store.AccessKeyRecord
	for rows.Next() {
		var r store.AccessKeyRecord
		var stamp int64
		if err := rows.Scan(&r.Mailbox, &r.Key, &stamp); err != nil {
			return nil, err
		}
		r.Stamp = uint64(stamp)
		out = append(out, r)
	}
	return out, rows.Err()
}

func (k *metadataHandle) ApplyAccessKeyRecords(ctx context.Context, recs []store.AccessKeyRecord) (int, error) {
	var n int
	err := k.a.u.write(ctx, func(t *writeTx) (err error) {
		n, err = store.ApplyRecords(recs, func(r store.AccessKeyRecord) (store.MailboxID, bool, error) {
			return mailboxByGUID(ctx, t.tx, r.Mailbox)
		}, func(id store.MailboxID, r store.AccessKeyRecord) (store.AccessKeyRecord, bool, error) {
			cur := store.AccessKeyRecord{Mailbox: r.Mailbox}
			var stamp int64
			err := t.tx.QueryRowContext(ctx, `SELECT key, stamp FROM access_keys WHERE mailbox_id = ?`, id).Scan(&cur.Key, &stamp)
			cur.Stamp = uint64(stamp)
			return cur, err == nil, noRow(err, "read access key")
		}, func(id store.MailboxID, r store.AccessKeyRecord) error {
			return putAccessKey(ctx, t.tx, id, r.Key, r.Stamp)
		})
		return err
	})
	return n, err
}

// putAccessKey sets mailbox id's key (empty: removed) with its stamp.
func putAccessKey(ctx context.Context, q querier, id store.MailboxID, key []byte, stamp uint64) error {
	if key == nil {
		key = []byte{}
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO access_keys (mailbox_id, key, stamp) VALUES (?, ?, ?)
		ON CONFLICT (mailbox_id) DO UPDATE SET key = excluded.key, stamp = excluded.stamp`, id, key, int64(stamp)); err != nil {
		return fmt.Errorf("set access key: %w", err)
	}
	return nil
}
