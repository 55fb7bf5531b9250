package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// schemaV11AccessKeys adds URLAUTH mailbox access keys (store.AccessKeys):
// one row per mailbox that has a key; the key goes with the mailbox row.
const schemaV11AccessKeys = `
CREATE TABLE access_keys (
	mailbox_id INTEGER PRIMARY KEY,
	key        BLOB NOT NULL
);
CREATE TRIGGER access_keys_mailbox_deleted AFTER DELETE ON mailboxes BEGIN
	DELETE FROM access_keys WHERE mailbox_id = OLD.id;
END;
`

var _ store.AccessKeyStore = (*Store)(nil)

// OpenAccessKeys returns a handle on user's mailbox access keys
// (store.AccessKeyStore): the metadata handle, which holds the user's
// account open and serves both small tables beside the mail.
func (s *Store) OpenAccessKeys(ctx context.Context, user string) (store.AccessKeys, error) {
	md, err := s.OpenMetadata(ctx, user)
	if err != nil {
		return nil, err
	}
	return md.(*metadataHandle), nil
}

var _ store.AccessKeys = (*metadataHandle)(nil)

func (k *metadataHandle) AccessKey(ctx context.Context, id store.MailboxID, create bool) ([]byte, error) {
	key, err := k.readAccessKey(ctx, k.a.u.r, id)
	if err != nil || key != nil || !create {
		return key, err
	}
	err = k.a.u.write(ctx, func(t *writeTx) error {
		if key, err = k.readAccessKey(ctx, t.tx, id); err != nil || key != nil {
			return err // another caller made it first
		}
		stamp, err := sharingStamp(ctx, t.tx)
		if err != nil {
			return err
		}
		key = store.NewAccessKey()
		return putAccessKey(ctx, t.tx, id, key, stamp)
	})
	return key, err
}

// readAccessKey returns mailbox id's key, nil when it has none; ErrNoMailbox when
// the mailbox does not exist.
func (k *metadataHandle) readAccessKey(ctx context.Context, q querier, id store.MailboxID) ([]byte, error) {
	var key []byte
	err := q.QueryRowContext(ctx, `SELECT ak.key FROM mailboxes mb LEFT JOIN access_keys ak ON ak.mailbox_id = mb.id
		WHERE mb.id = ?`, id).Scan(&key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("mailbox %d: %w", id, store.ErrNoMailbox)
	}
	if err != nil {
		return nil, fmt.Errorf("read access key: %w", err)
	}
	if len(key) == 0 {
		return nil, nil // none, or removed (a row kept to replicate it)
	}
	return key, nil
}

func (k *metadataHandle) ResetAccessKey(ctx context.Context, id store.MailboxID) error {
	return k.a.u.write(ctx, func(t *writeTx) error {
		if _, err := k.readAccessKey(ctx, t.tx, id); err != nil {
			return err
		}
		stamp, err := sharingStamp(ctx, t.tx)
		if err != nil {
			return err
		}
		return putAccessKey(ctx, t.tx, id, store.NewAccessKey(), stamp)
	})
}

func (k *metadataHandle) RemoveAccessKeys(ctx context.Context) error {
	return k.a.u.write(ctx, func(t *writeTx) error {
		// Every mailbox gets a removed key, not only those with one here:
		// a key a peer made that has not reached this replica yet goes
		// too when the removal reaches the peer (store.AccessKeyRecord).
		stamp, err := sharingStamp(ctx, t.tx)
		if err != nil {
			return err
		}
		_, err = t.tx.ExecContext(ctx, `INSERT INTO access_keys (mailbox_id, key, stamp) SELECT id, X'', ? FROM mailboxes WHERE true
			ON CONFLICT (mailbox_id) DO UPDATE SET key = X'', stamp = excluded.stamp`, int64(stamp))
		return err
	})
}
