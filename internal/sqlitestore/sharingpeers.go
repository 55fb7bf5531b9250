package sqlitestore

import (
	"context"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// schemaV15SharingPeers records, per replication peer, the ACL entries
// (kind 0) and access keys (kind 1, with an empty identifier) both replicas held
// when their last exchange of them ended, by mailbox GUID, with removed
// set for a removal (store.SharingPeers). The row of kind 2 only marks
// the peer known.
const schemaV15SharingPeers = `
CREATE TABLE sharing_peers (
	peer       TEXT NOT NULL,
	kind       INTEGER NOT NULL,
	mailbox    TEXT NOT NULL,
	identifier TEXT NOT NULL,
	stamp      INTEGER NOT NULL,
	removed    INTEGER NOT NULL,
	PRIMARY KEY (peer, kind, mailbox, identifier)
) WITHOUT ROWID;
`

var _ store.SharingPeers = (*aclHandle)(nil)

func (h *aclHandle) SharingPeer(ctx context.Context, peer string) (acl []store.ACLRecord, keys []store.AccessKeyRecord, known bool, err error) {
	rows, err := h.a.u.r.QueryContext(ctx, `SELECT kind, mailbox, identifier, stamp, removed FROM sharing_peers
		WHERE peer = ? ORDER BY kind, mailbox, identifier`, peer)
	if err != nil {
		return nil, nil, false, fmt.Errorf("read sharing peer: %w", err)
	}
	defer rows.Close()
	var recorded []store.SharingPeerRow
	for rows.Next() {
		var row store.SharingPeerRow
		if err := rows.Scan(&row.Kind, &row.Mailbox, &row.Identifier, &row.Stamp, &row.Removed); err != nil {
			return nil, nil, false, err
		}
		recorded = append(recorded, row)
	}
	acl, keys, known = store.SharingPeerRecords(recorded)
	return acl, keys, known, rows.Err()
}

func (h *aclHandle) SetSharingPeer(ctx context.Context, peer string, acl []store.ACLRecord, keys []store.AccessKeyRecord) error {
	return h.a.u.write(ctx, func(t *writeTx) error {
		if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM sharing_peers WHERE peer = ?`, peer); err != nil {
			return err
		}
		stmt, err := t.tx.PrepareContext(t.ctx, `INSERT INTO sharing_peers (peer, kind, mailbox, identifier, stamp, removed)
			VALUES (?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range store.SharingPeerRows(acl, keys) {
			if _, err := stmt.ExecContext(t.ctx, peer, r.Kind, r.Mailbox, r.Identifier, r.Stamp, r.Removed); err != nil {
				return err
			}
		}
		return nil
	})
}

func (h *aclHandle) ForgetSharingPeer(ctx context.Context, peer string) error {
	return h.a.u.write(ctx, func(t *writeTx) error {
		_, err := t.tx.ExecContext(t.ctx, `DELETE FROM sharing_peers WHERE peer = ?`, peer)
		return err
	})
}

func (h *aclHandle) PruneSharing(ctx context.Context, before uint64) (int, error) {
	var n int64
	err := h.a.u.write(ctx, func(t *writeTx) error {
		for _, q := range []string{
			`DELETE FROM acl WHERE rights = '' AND stamp <= ?1 AND NOT EXISTS (
				SELECT 1 FROM sharing_peers k WHERE k.kind = 2 AND NOT EXISTS (
					SELECT 1 FROM sharing_peers p JOIN mailboxes mb ON mb.guid = p.mailbox
					WHERE p.peer = k.peer AND p.kind = 0 AND mb.id = acl.mailbox_id
					AND p.identifier = acl.identifier AND p.removed AND p.stamp >= acl.stamp))`,
			`DELETE FROM access_keys WHERE length(key) = 0 AND stamp <= ?1 AND NOT EXISTS (
				SELECT 1 FROM sharing_peers k WHERE k.kind = 2 AND NOT EXISTS (
					SELECT 1 FROM sharing_peers p JOIN mailboxes mb ON mb.guid = p.mailbox
					WHERE p.peer = k.peer AND p.kind = 1 AND mb.id = access_keys.mailbox_id
					AND p.removed AND p.stamp >= access_keys.stamp))`,
		} {
			res, err := t.tx.ExecContext(t.ctx, q, int64(before))
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += k
		}
		_, err := t.tx.ExecContext(t.ctx, `DELETE FROM sharing_peers WHERE removed AND (kind = 0 AND NOT EXISTS (
				SELECT 1 FROM acl a JOIN mailboxes mb ON mb.id = a.mailbox_id
				WHERE mb.guid = sharing_peers.mailbox AND a.identifier = sharing_peers.identifier)
			OR kind = 1 AND NOT EXISTS (
				SELECT 1 FROM access_keys ak JOIN mailboxes mb ON mb.id = ak.mailbox_id WHERE mb.guid = sharing_peers.mailbox))`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune sharing: %w", err)
	}
	return int(n), nil
}
