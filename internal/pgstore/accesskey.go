package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// schemaV14AccessKeys adds URLAUTH mailbox access keys (store.AccessKeys):
// one row per mailbox that has a key; a trigger removes it with the
// mailbox row, the user's go with the user.
const schemaV14AccessKeys = `
CREATE TABLE access_keys (
	user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	mailbox_id bigint NOT NULL,
	key        bytea NOT NULL,
	PRIMARY KEY (user_id, mailbox_id)
);
CREATE FUNCTION access_keys_mailbox_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM access_keys WHERE user_id = OLD.user_id AND mailbox_id = OLD.id;
	RETURN OLD;
END $$;
CREATE TRIGGER access_keys_mailbox_deleted AFTER DELETE ON mailboxes
	FOR EACH ROW EXECUTE FUNCTION access_keys_mailbox_deleted();
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

// readAccessKey returns mailbox id's key, nil when it has none; ErrNoMailbox when
// the mailbox is not the user's.
func (k *metadataHandle) readAccessKey(ctx context.Context, q querier, id store.MailboxID) ([]byte, error) {
	if _, err := lookupID(ctx, q, k.a.id, id); err != nil {
		return nil, err
	}
	var key []byte
	err := q.QueryRow(ctx, `SELECT key FROM access_keys WHERE user_id = $1 AND mailbox_id = $2`, k.a.id, id).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read access key: %w", err)
	}
	if len(key) == 0 {
		return nil, nil // removed (a row kept to replicate it)
	}
	return key, nil
}

func (k *metadataHandle) AccessKey(ctx context.Context, id store.MailboxID, create bool) ([]byte, error) {
	key, err := k.readAccessKey(ctx, k.a.s.pool, id)
	if err != nil || key != nil || !create {
		return key, err
	}
	err = k.a.write(ctx, func(t *writeTx) error {
		if _, err := lookupID(ctx, t.tx, k.a.id, id); err != nil {
			return err
		}
		stamp, err := sharingStamp(ctx, t.tx, k.a.id)
		if err != nil {
			return err
		}
		// Another caller's key (made first) stays; a removed one is
		// replaced.
		if _, err := t.tx.Exec(ctx, `INSERT INTO access_keys (user_id, mailbox_id, key, stamp) VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_id, mailbox_id) DO UPDATE SET key = excluded.key, stamp = excluded.stamp
			WHERE access_keys.key = ''::bytea`, k.a.id, id, store.NewAccessKey(), int64(stamp)); err != nil {
			return fmt.Errorf("create access key: %w", err)
		}
		key, err = k.readAccessKey(ctx, t.tx, id)
		return err
	})
	return key, err
}

func (k *metadataHandle) ResetAccessKey(ctx context.Context, id store.MailboxID) error {
	return k.a.write(ctx, func(t *writeTx) error {
		if _, err := lookupID(ctx, t.tx, k.a.id, id); err != nil {
			return err
		}
		stamp, err := sharingStamp(ctx, t.tx, k.a.id)
		if err != nil {
			return err
		}
		return putAccessKey(ctx, t.tx, k.a.id, id, store.NewAccessKey(), stamp)
	})
}

func (k *metadataHandle) RemoveAccessKeys(ctx context.Context) error {
	return k.a.write(ctx, func(t *writeTx) error {
		// Every mailbox gets a removed key, not only those with one here:
		// a key a peer made that has not reached this replica yet goes
		// too when the removal reaches the peer (store.AccessKeyRecord).
		stamp, err := sharingStamp(ctx, t.tx, k.a.id)
		if err != nil {
			return err
		}
		_, err = t.tx.Exec(ctx, `INSERT INTO access_keys (user_id, mailbox_id, key, stamp)
			SELECT user_id, id, ''::bytea, $2 FROM mailboxes WHERE user_id = $1
			ON CONFLICT (user_id, mailbox_id) DO UPDATE SET key = excluded.key, stamp = excluded.stamp`, k.a.id, int64(stamp))
		return err
	})
}
