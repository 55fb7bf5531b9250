package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetx"
)

// schemaV8Metadata adds RFC 5464 metadata (see the package doc).
const schemaV8Metadata = `
CREATE TABLE metadata (
	mailbox_id INTEGER NOT NULL,
	name       TEXT NOT NULL,
	value      BLOB,
	modseq     INTEGER NOT NULL,
	PRIMARY KEY (mailbox_id, name)
) WITHOUT ROWID;
CREATE INDEX metadata_modseq ON metadata (mailbox_id, modseq);
CREATE TRIGGER metadata_mailbox_deleted AFTER DELETE ON mailboxes BEGIN
	DELETE FROM metadata WHERE mailbox_id = OLD.id;
END;
`

var _ store.MetadataStore = (*Store)(nil)

// OpenMetadata returns a handle on user's metadata (store.MetadataStore).
func (s *Store) OpenMetadata(ctx context.Context, user string) (store.Metadata, error) {
	a, err := s.openAccount(ctx, user)
	if err != nil {
		return nil, err
	}
	return &metadataHandle{a: a}, nil
}

// metadataHandle is store.Metadata over one user's database; it holds an
// Account handle so the database stays open.
type metadataHandle struct{ a *Account }

func (m *metadataHandle) Close() error { return m.a.Close() }

func (m *metadataHandle) GetMetadata(ctx context.Context, id store.MailboxID, names []string, depth int) ([]store.MetadataEntry, error) {
	if err := m.checkMailbox(ctx, m.a.u.r, id); err != nil {
		return nil, err
	}
	return store.GatherMetadata(names, depth, func(name string, below bool) ([]store.MetadataEntry, error) {
		// The entry itself, then (below) the range of names under it:
		// "name/" up to "name0" ('0' follows '/').
		rows, err := m.a.u.r.QueryContext(ctx, `SELECT name, value, modseq FROM metadata
			WHERE mailbox_id = ? AND value IS NOT NULL AND (name = ? OR (? AND name >= ? AND name < ?))`,
			id, name, below, name+"/", name+"0")
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []store.MetadataEntry
		for rows.Next() {
			var e store.MetadataEntry
			if err := rows.Scan(&e.Name, &e.Value, &e.ModSeq); err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, rows.Err()
	})
}

// checkMailbox fails with ErrNoMailbox unless id is the server or an
// existing mailbox.
func (m *metadataHandle) checkMailbox(ctx context.Context, q querier, id store.MailboxID) error {
	if id == store.ServerMetadata {
		return nil
	}
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM mailboxes WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("mailbox %d: %w", id, store.ErrNoMailbox)
	}
	return err
}

func (m *metadataHandle) SetMetadata(ctx context.Context, id store.MailboxID, entries []store.MetadataEntry, limits store.MetadataLimits) (store.ModSeq, error) {
	if err := storetx.CheckMetadataSize(entries, limits); err != nil {
		return 0, err
	}
	var ms store.ModSeq
	err := m.a.u.write(ctx, func(t *writeTx) (err error) {
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
	err := t.tx.QueryRowContext(t.ctx, `SELECT value, value IS NOT NULL FROM metadata WHERE mailbox_id = ? AND name = ?`,
		id, name).Scan(&value, &exists)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	return value, exists, err
}

// MetadataCount implements storetx.MetadataTx.
func (t *writeTx) MetadataCount(id store.MailboxID) (int, error) {
	var n int
	err := t.tx.QueryRowContext(t.ctx, `SELECT count(*) FROM metadata WHERE mailbox_id = ? AND value IS NOT NULL`, id).Scan(&n)
	return n, err
}

// ServerMetadataModSeq implements storetx.MetadataTx.
func (t *writeTx) ServerMetadataModSeq() (store.ModSeq, error) {
	t.accountChanged = true
	var ms store.ModSeq
	err := t.tx.QueryRowContext(t.ctx, `SELECT coalesce(max(modseq), 0) + 1 FROM metadata WHERE mailbox_id = 0`).Scan(&ms)
	return ms, err
}

// PutMetadata implements storetx.MetadataTx.
func (t *writeTx) PutMetadata(id store.MailboxID, name string, value []byte, ms, stamp store.ModSeq) error {
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO metadata (mailbox_id, name, value, modseq, stamp) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (mailbox_id, name) DO UPDATE SET value = excluded.value, modseq = excluded.modseq, stamp = excluded.stamp`,
		id, name, value, ms, stamp)
	return err
}

func (m *metadataHandle) MetadataChangedSince(ctx context.Context, id store.MailboxID, since store.ModSeq) ([]store.MetadataEntry, error) {
	return metadataIn(ctx, m.a.u.r, id, since)
}

func (m *metadataHandle) ServerMetadataModSeq(ctx context.Context) (store.ModSeq, error) {
	var ms store.ModSeq
	err := m.a.u.r.QueryRowContext(ctx, `SELECT coalesce(max(modseq), 0) FROM metadata WHERE mailbox_id = 0`).Scan(&ms)
	return ms, err
}

// CopyMetadataEntries implements storetx.MetadataTx.
func (t *writeTx) CopyMetadataEntries(src, dst store.MailboxID, ms store.ModSeq) error {
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO metadata (mailbox_id, name, value, modseq)
		SELECT ?, name, value, ? FROM metadata WHERE mailbox_id = ? AND value IS NOT NULL`, dst, ms, src)
	return err
}

// MetadataEntry returns entry name of mailbox id: its value, whether it
// has one, and the modseq of its last change (0 when never set).
func (t *writeTx) MetadataEntry(id store.MailboxID, name string) (value []byte, exists bool, ms store.ModSeq, err error) {
	err = t.tx.QueryRowContext(t.ctx, `SELECT value, value IS NOT NULL, modseq FROM metadata WHERE mailbox_id = ? AND name = ?`,
		id, name).Scan(&value, &exists, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	return value, exists, ms, err
}

// metadataIn returns the entries of mailbox id changed above since, in the
// read transaction q, deleted ones with a nil Value, ordered by name.
func metadataIn(ctx context.Context, q querier, id store.MailboxID, since store.ModSeq) ([]store.MetadataEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, value, value IS NOT NULL, modseq, stamp FROM metadata
		WHERE mailbox_id = ? AND modseq > ? ORDER BY name`, id, since)
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
