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
	return applyRecords(ctx, h.a, valid, func(r store.ACLRecord) string { return r.Mailbox },
		func(t *writeTx, id store.MailboxID, r store.ACLRecord) (bool, error) {
			cur := store.ACLRecord{Mailbox: r.Mailbox, Identifier: r.Identifier}
			var stamp int64
			err := t.tx.QueryRowContext(ctx, `SELECT rights, stamp FROM acl WHERE mailbox_id = ? AND identifier = ?`,
				id, r.Identifier).Scan(&cur.Rights, &stamp)
			if err == nil {
				if cur.Stamp = uint64(stamp); !r.Beats(cur) {
					return false, nil
				}
			} else if !errors.Is(err, sql.ErrNoRows) {
				return false, fmt.Errorf("read acl: %w", err)
			}
			return true, putACL(ctx, t.tx, id, r.Identifier, r.Rights, r.Stamp)
		})
}

// applyRecords writes, in one transaction of a's user, each record whose
// mailbox exists here and that put finds winning, and counts them.
func applyRecords[R any](ctx context.Context, a *Account, recs []R, mailbox func(R) string,
	put func(t *writeTx, id store.MailboxID, r R) (bool, error)) (int, error) {
	n := 0
	err := a.u.write(ctx, func(t *writeTx) error {
		n = 0
		for _, r := range recs {
			id, ok, err := mailboxByGUID(ctx, t.tx, mailbox(r))
			if err != nil {
				return err
			} else if !ok {
				continue
			}
			wrote, err := put(t, id, r)
			if err != nil {
				return err
			} else if wrote {
				n++
			}
		}
		return nil
	})
	return n, err
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
	return applyRecords(ctx, k.a, recs, func(r store.AccessKeyRecord) string { return r.Mailbox },
		func(t *writeTx, id store.MailboxID, r store.AccessKeyRecord) (bool, error) {
			cur := store.AccessKeyRecord{Mailbox: r.Mailbox}
			var stamp int64
			err := t.tx.QueryRowContext(ctx, `SELECT key, stamp FROM access_keys WHERE mailbox_id = ?`, id).Scan(&cur.Key, &stamp)
			if err == nil {
				if cur.Stamp = uint64(stamp); !r.Beats(cur) {
					return false, nil
				}
			} else if !errors.Is(err, sql.ErrNoRows) {
				return false, fmt.Errorf("read access key: %w", err)
			}
			return true, putAccessKey(ctx, t.tx, id, r.Key, r.Stamp)
		})
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
