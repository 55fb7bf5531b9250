package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// schemaV9AccessKeys adds URLAUTH mailbox access keys (store.AccessKeys):
// one row per mailbox that has a key; the key goes with the mailbox row.
const schemaV9AccessKeys = `
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
// (store.AccessKeyStore).
func (s *Store) OpenAccessKeys(ctx context.Context, user string) (store.AccessKeys, error) {
	a, err := s.openAccount(ctx, user)
	if err != nil {
		return nil, err
	}
	return &accessKeys{a: a}, nil
}

// accessKeys is store.AccessKeys over one user's database; it holds an
// Account handle so the database stays open.
type accessKeys struct{ a *Account }

func (k *accessKeys) Close() error { return k.a.Close() }

func (k *accessKeys) AccessKey(ctx context.Context, id store.MailboxID, create bool) ([]byte, error) {
	key, err := k.read(ctx, k.a.u.r, id)
	if err != nil || key != nil || !create {
		return key, err
	}
	err = k.a.u.write(ctx, func(t *writeTx) error {
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO access_keys (mailbox_id, key) VALUES (?, ?)
			ON CONFLICT (mailbox_id) DO NOTHING`, id, store.NewAccessKey()); err != nil {
			return fmt.Errorf("create access key: %w", err)
		}
		key, err = k.read(ctx, t.tx, id)
		return err
	})
	return key, err
}

// read returns mailbox id's key, nil when it has none; ErrNoMailbox when
// the mailbox does not exist.
func (k *accessKeys) read(ctx context.Context, q querier, id store.MailboxID) ([]byte, error) {
	var key []byte
	err := q.QueryRowContext(ctx, `SELECT ak.key FROM mailboxes mb LEFT JOIN access_keys ak ON ak.mailbox_id = mb.id
		WHERE mb.id = ?`, id).Scan(&key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("mailbox %d: %w", id, store.ErrNoMailbox)
	}
	if err != nil {
		return nil, fmt.Errorf("read access key: %w", err)
	}
	return key, nil
}

func (k *accessKeys) ResetAccessKey(ctx context.Context, id store.MailboxID) error {
	return k.a.u.write(ctx, func(t *writeTx) error {
		if _, err := k.read(ctx, t.tx, id); err != nil {
			return err
		}
		_, err := t.tx.ExecContext(ctx, `INSERT INTO access_keys (mailbox_id, key) VALUES (?, ?)
			ON CONFLICT (mailbox_id) DO UPDATE SET key = excluded.key`, id, store.NewAccessKey())
		return err
	})
}

func (k *accessKeys) RemoveAccessKeys(ctx context.Context) error {
	return k.a.u.write(ctx, func(t *writeTx) error {
		_, err := t.tx.ExecContext(ctx, `DELETE FROM access_keys`)
		return err
	})
}
