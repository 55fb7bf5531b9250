package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetx"
)

// schemaV10Metadata adds RFC 5464 metadata (store.Metadata): one row per
// entry name ever set on a mailbox (mailbox_id 0: the server), value NULL
// once deleted, modseq of the last change (a mailbox modseq; for server
// entries one above the highest server entry's). A trigger removes a
// mailbox's entries with its row; the user's go with the user.
const schemaV10Metadata = `
CREATE TABLE metadata (
	user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	mailbox_id bigint NOT NULL,
	name       text NOT NULL,
	value      bytea,
	modseq     bigint NOT NULL,
	PRIMARY KEY (user_id, mailbox_id, name)
);
CREATE INDEX metadata_modseq ON metadata (user_id, mailbox_id, modseq);
CREATE FUNCTION metadata_mailbox_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM metadata WHERE user_id = OLD.user_id AND mailbox_id = OLD.id;
	RETURN OLD;
END $$;
CREATE TRIGGER metadata_mailbox_deleted AFTER DELETE ON mailboxes
	FOR EACH ROW EXECUTE FUNCTION metadata_mailbox_deleted();
`

// accountChanged marks a transaction that changed the account (a mailbox
// created, renamed or deleted, a subscription, server metadata): it is
// announced under store.AccountID, locally and to the other nodes, like a
// mailbox (NOTIFY's MailboxName and SubscriptionChange).
func (t *writeTx) accountChanged() { t.touched[store.AccountID] = 0 }

var _ store.MetadataStore = (*Store)(nil)

// OpenMetadata returns a handle on user's metadata (store.MetadataStore).
func (s *Store) OpenMetadata(ctx context.Context, user string) (store.Metadata, error) {
	a, err := s.openAccount(ctx, user)
	if err != nil {
		return nil, err
	}
	return &metadataHandle{a: a}, nil
}

type metadataHandle struct{ a *Account }

func (m *metadataHandle) Close() error { return m.a.Close() }

// checkMailbox fails with ErrNoMailbox unless id is the server or a
// mailbox of the user.
func (m *metadataHandle) checkMailbox(ctx context.Context, q querier, id store.MailboxID) error {
	if id == store.ServerMetadata {
		return nil
	}
	_, err := lookupID(ctx, q, m.a.id, id)
	return err
}

func (m *metadataHandle) GetMetadata(ctx context.Context, id store.MailboxID, names []string, depth int) ([]store.MetadataEntry, error) {
	if err := m.checkMailbox(ctx, m.a.s.pool, id); err != nil {
		return nil, err
	}
	return store.GatherMetadata(names, depth, func(name string, below bool) ([]store.MetadataEntry, error) {
		rows, err := m.a.s.pool.Query(ctx, `SELECT name, value, modseq FROM metadata
			WHERE user_id = $1 AND mailbox_id = $2 AND value IS NOT NULL
			AND (name = $3 OR ($4 AND name >= $5 COLLATE "C" AND name < $6 COLLATE "C"))`,
			m.a.id, id, name, below, name+"/", name+"0")
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.MetadataEntry, error) {
			var e store.MetadataEntry
			err := r.Scan(&e.Name, &e.Value, &e.ModSeq)
			return e, err
		})
	})
}

func (m *metadataHandle) SetMetadata(ctx context.Context, id store.MailboxID, entries []store.MetadataEntry, limits store.MetadataLimits) (store.ModSeq, error) {
	if err := storetx.CheckMetadataSize(entries, limits); err != nil {
		return 0, err
	}
	var ms store.ModSeq
	err := m.a.write(ctx, func(t *writeTx) (err error) {
		ms, err = storetx.SetMetadata(t, id, entries, limits)
		return err
	})
	var le *store.MetadataLimitError
	if errors.As(err, &le) {
		return 0, le
	}
	return ms, err
}

// MetadataValue implements storetx.MetadataTx.
func (t *writeTx) MetadataValue(id store.MailboxID, name string) ([]byte, bool, error) {
	var value []byte
	var exists bool
	err := t.tx.QueryRow(t.ctx, `SELECT value, value IS NOT NULL FROM metadata WHERE user_id = $1 AND mailbox_id = $2 AND name = $3`,
		t.userID, id, name).Scan(&value, &exists)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	return value, exists, err
}

// MetadataCount implements storetx.MetadataTx.
func (t *writeTx) MetadataCount(id store.MailboxID) (int, error) {
	var n int
	err := t.tx.QueryRow(t.ctx, `SELECT count(*) FROM metadata WHERE user_id = $1 AND mailbox_id = $2 AND value IS NOT NULL`,
		t.userID, id).Scan(&n)
	return n, err
}

// ServerMetadataModSeq implements storetx.MetadataTx.
func (t *writeTx) ServerMetadataModSeq() (store.ModSeq, error) {
	t.accountChanged()
	var ms store.ModSeq
	err := t.tx.QueryRow(t.ctx, `SELECT coalesce(max(modseq), 0) + 1 FROM metadata WHERE user_id = $1 AND mailbox_id = 0`,
		t.userID).Scan(&ms)
	return ms, err
}

// PutMetadata implements storetx.MetadataTx. An empty value is stored as
// an empty bytea, no value as NULL.
func (t *writeTx) PutMetadata(id store.MailboxID, name string, value []byte, ms, stamp store.ModSeq) error {
	var v any = value
	if value == nil {
		v = nil
	} else if len(value) == 0 {
		v = []byte{}
	}
	_, err := t.tx.Exec(t.ctx, `INSERT INTO metadata (user_id, mailbox_id, name, value, modseq, stamp) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (user_id, mailbox_id, name) DO UPDATE SET value = excluded.value, modseq = excluded.modseq, stamp = excluded.stamp`,
		t.userID, id, name, v, ms, stamp)
	return err
}

func (m *metadataHandle) MetadataChangedSince(ctx context.Context, id store.MailboxID, since store.ModSeq) ([]store.MetadataEntry, error) {
	return metadataIn(ctx, m.a.s.pool, m.a.id, id, since)
}

func (m *metadataHandle) ServerMetadataModSeq(ctx context.Context) (store.ModSeq, error) {
	var ms store.ModSeq
	err := m.a.s.pool.QueryRow(ctx, `SELECT coalesce(max(modseq), 0) FROM metadata WHERE user_id = $1 AND mailbox_id = 0`, m.a.id).Scan(&ms)
	return ms, err
}

// CopyMetadataEntries implements storetx.MetadataTx.
func (t *writeTx) CopyMetadataEntries(src, dst store.MailboxID, ms store.ModSeq) error {
	_, err := t.tx.Exec(t.ctx, `INSERT INTO metadata (user_id, mailbox_id, name, value, modseq)
		SELECT user_id, $1, name, value, $2 FROM metadata WHERE user_id = $3 AND mailbox_id = $4 AND value IS NOT NULL`,
		dst, ms, t.userID, src)
	return err
}

// MetadataEntry returns entry name of mailbox id: its value, whether it
// has one, and the modseq of its last change (0 when never set).
func (t *writeTx) MetadataEntry(id store.MailboxID, name string) (value []byte, exists bool, ms store.ModSeq, err error) {
	err = t.tx.QueryRow(t.ctx, `SELECT value, value IS NOT NULL, modseq FROM metadata WHERE user_id = $1 AND mailbox_id = $2 AND name = $3`,
		t.userID, id, name).Scan(&value, &exists, &ms)
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil
	}
	return value, exists, ms, err
}

// metadataIn returns the entries of mailbox id changed above since,
// deleted ones with a nil Value, ordered by name.
func metadataIn(ctx context.Context, q querier, userID int64, id store.MailboxID, since store.ModSeq) ([]store.MetadataEntry, error) {
	rows, err := q.Query(ctx, `SELECT name, value, value IS NOT NULL, modseq, stamp FROM metadata
		WHERE user_id = $1 AND mailbox_id = $2 AND modseq > $3 ORDER BY name COLLATE "C"`, userID, id, since)
	if err != nil {
		return nil, fmt.Errorf("metadata changes: %w", err)
	}
	defer rows.Close()
	var out []store.MetadataEntry
	for rows.Next() {
		e, err := store.ScanMetadataChange(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
