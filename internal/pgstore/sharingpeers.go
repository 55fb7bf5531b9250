package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// schemaV19SharingPeers records, per user and replication peer, the ACL
// entries (kind 0) and access keys (kind 1, with an empty identifier) both replicas
// held when their last exchange of them ended, by mailbox GUID, with
// removed set for a removal (store.SharingPeers). The row of kind 2 only
// marks the peer known.
const schemaV19SharingPeers = `
CREATE TABLE sharing_peers (
	user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	peer       text NOT NULL,
	kind       integer NOT NULL,
	mailbox    text NOT NULL,
	identifier text NOT NULL,
	stamp      bigint NOT NULL,
	removed    boolean NOT NULL,
	PRIMARY KEY (user_id, peer, kind, mailbox, identifier)
);
`

var _ store.SharingPeers = (*aclHandle)(nil)

func (h *aclHandle) SharingPeer(ctx context.Context, peer string) (acl []store.ACLRecord, keys []store.AccessKeyRecord, known bool, err error) {
	rows, err := h.a.s.pool.Query(ctx, `SELECT kind, mailbox, identifier, stamp, removed FROM sharing_peers
		WHERE user_id = $1 AND peer = $2`, h.a.id, peer)
	if err != nil {
		return nil, nil, false, fmt.Errorf("read sharing peer: %w", err)
	}
	var row store.SharingPeerRow
	var recorded []store.SharingPeerRow
	_, err = pgx.ForEachRow(rows, []any{&row.Kind, &row.Mailbox, &row.Identifier, &row.Stamp, &row.Removed}, func() error {
		recorded = append(recorded, row)
		return nil
	})
	if err != nil {
		return nil, nil, false, fmt.Errorf("read sharing peer: %w", err)
	}
	acl, keys, known = store.SharingPeerRecords(recorded)
	return acl, keys, known, nil
}

func (h *aclHandle) SetSharingPeer(ctx context.Context, peer string, acl []store.ACLRecord, keys []store.AccessKeyRecord) error {
	return h.a.write(ctx, func(t *writeTx) error {
		if _, err := t.tx.Exec(t.ctx, `DELETE FROM sharing_peers WHERE user_id = $1 AND peer = $2`, t.userID, peer); err != nil {
			return err
		}
		rows := store.SharingPeerRows(acl, keys)
		kinds, mailboxes, ids := make([]int32, len(rows)), make([]string, len(rows)), make([]string, len(rows))
		stamps, removed := make([]int64, len(rows)), make([]bool, len(rows))
		for i, r := range rows {
			kinds[i], mailboxes[i], ids[i], stamps[i], removed[i] = int32(r.Kind), r.Mailbox, r.Identifier, r.Stamp, r.Removed
		}
		_, err := t.tx.Exec(t.ctx, `INSERT INTO sharing_peers (user_id, peer, kind, mailbox, identifier, stamp, removed)
			SELECT $1, $2, k, m, i, s, r FROM unnest($3::integer[], $4::text[], $5::text[], $6::bigint[], $7::boolean[]) AS x(k, m, i, s, r)`,
			t.userID, peer, kinds, mailboxes, ids, stamps, removed)
		return err
	})
}

func (h *aclHandle) ForgetSharingPeer(ctx context.Context, peer string) error {
	return h.a.write(ctx, func(t *writeTx) error {
		_, err := t.tx.Exec(t.ctx, `DELETE FROM sharing_peers WHERE user_id = $1 AND peer = $2`, t.userID, peer)
		return err
	})
}

func (h *aclHandle) PruneSharing(ctx context.Context, before uint64) (int, error) {
	var n int64
	err := h.a.write(ctx, func(t *writeTx) error {
		for _, q := range []string{
			`DELETE FROM acl a WHERE a.user_id = $1 AND a.rights = '' AND a.stamp <= $2 AND NOT EXISTS (
				SELECT 1 FROM sharing_peers k WHERE k.user_id = $1 AND k.kind = 2 AND NOT EXISTS (
					SELECT 1 FROM sharing_peers p JOIN mailboxes mb ON mb.user_id = $1 AND mb.guid = p.mailbox
					WHERE p.user_id = $1 AND p.peer = k.peer AND p.kind = 0 AND mb.id = a.mailbox_id
					AND p.identifier = a.identifier AND p.removed AND p.stamp >= a.stamp))`,
			`DELETE FROM access_keys ak WHERE ak.user_id = $1 AND length(ak.key) = 0 AND ak.stamp <= $2 AND NOT EXISTS (
				SELECT 1 FROM sharing_peers k WHERE k.user_id = $1 AND k.kind = 2 AND NOT EXISTS (
					SELECT 1 FROM sharing_peers p JOIN mailboxes mb ON mb.user_id = $1 AND mb.guid = p.mailbox
					WHERE p.user_id = $1 AND p.peer = k.peer AND p.kind = 1 AND mb.id = ak.mailbox_id
					AND p.removed AND p.stamp >= ak.stamp))`,
		} {
			tag, err := t.tx.Exec(t.ctx, q, t.userID, int64(before))
			if err != nil {
				return err
			}
			n += tag.RowsAffected()
		}
		_, err := t.tx.Exec(t.ctx, `DELETE FROM sharing_peers sp WHERE sp.user_id = $1 AND sp.removed AND (sp.kind = 0 AND NOT EXISTS (
				SELECT 1 FROM acl a JOIN mailboxes mb ON mb.id = a.mailbox_id AND mb.user_id = a.user_id
				WHERE a.user_id = $1 AND mb.guid = sp.mailbox AND a.identifier = sp.identifier)
			OR sp.kind = 1 AND NOT EXISTS (
				SELECT 1 FROM access_keys ak JOIN mailboxes mb ON mb.id = ak.mailbox_id AND mb.user_id = ak.user_id
				WHERE ak.user_id = $1 AND mb.guid = sp.mailbox))`, t.userID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune sharing: %w", err)
	}
	return int(n), nil
}
