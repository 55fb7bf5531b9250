package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"

	"github.com/tidemark-mail/tidemark/internal/store"
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
	seen := make(map[string]bool)
	var out []store.MetadataEntry
	for _, name := range names {
		// The entry itself, then (by depth) the range of names below it:
		// "name/" up to "name0" ('0' follows '/').
		rows, err := m.a.u.r.QueryContext(ctx, `SELECT name, value, modseq FROM metadata
			WHERE mailbox_id = ? AND value IS NOT NULL AND (name = ? OR (? AND name >= ? AND name < ?))`,
			id, name, depth != 0, name+"/", name+"0")
		if err != nil {
			return nil, fmt.Errorf("get metadata: %w", err)
		}
		for rows.Next() {
			var e store.MetadataEntry
			if err := rows.Scan(&e.Name, &e.Value, &e.ModSeq); err != nil {
				rows.Close()
				return nil, err
			}
			if e.Value == nil {
				e.Value = []byte{}
			}
			if !seen[e.Name] && store.EntryMatches(e.Name, name, depth) {
				seen[e.Name] = true
				out = append(out, e)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
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
	if limits.MaxSize > 0 {
		for _, e := range entries {
			if len(e.Value) > limits.MaxSize {
				return 0, &store.MetadataLimitError{MaxSize: limits.MaxSize}
			}
		}
	}
	var ms store.ModSeq
	err := m.a.u.write(ctx, func(t *writeTx) error {
		if err := m.checkMailbox(ctx, t.tx, id); err != nil {
			return err
		}
		// What changes: an entry whose value differs from the stored one.
		type change struct {
			name  string
			value []byte
		}
		var changes []change
		delta := 0 // change in the count of entries with a value
		for _, e := range entries {
			old, exists, _, err := t.metadataEntry(id, e.Name)
			if err != nil {
				return err
			}
			if metadataSame(e.Value, old, exists) {
				// Already so: no change, no modseq.
				continue
			}
			switch {
			case e.Value != nil && !exists:
				delta++
			case e.Value == nil && exists:
				delta--
			}
			changes = append(changes, change{e.Name, e.Value})
		}
		if len(changes) == 0 {
			return nil
		}
		if limits.MaxEntries > 0 && delta > 0 {
			var n int
			if err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM metadata WHERE mailbox_id = ? AND value IS NOT NULL`, id).Scan(&n); err != nil {
				return err
			}
			if n+delta > limits.MaxEntries {
				return &store.MetadataLimitError{TooMany: true}
			}
		}
		if id == store.ServerMetadata {
			if err := t.tx.QueryRowContext(ctx, `SELECT coalesce(max(modseq), 0) + 1 FROM metadata WHERE mailbox_id = 0`).Scan(&ms); err != nil {
				return err
			}
			t.accountChanged = true
		} else {
			var err error
			if ms, err = t.modseq(id); err != nil {
				return err
			}
		}
		for _, c := range changes {
			if err := t.putMetadata(id, c.name, c.value, ms); err != nil {
				return err
			}
		}
		return nil
	})
	var le *store.MetadataLimitError
	if errors.As(err, &le) {
		return 0, le
	}
	return ms, err
}

func (m *metadataHandle) MetadataChangedSince(ctx context.Context, id store.MailboxID, since store.ModSeq) ([]store.MetadataEntry, error) {
	return metadataIn(ctx, m.a.u.r, id, since)
}

func (m *metadataHandle) ServerMetadataModSeq(ctx context.Context) (store.ModSeq, error) {
	var ms store.ModSeq
	err := m.a.u.r.QueryRowContext(ctx, `SELECT coalesce(max(modseq), 0) FROM metadata WHERE mailbox_id = 0`).Scan(&ms)
	return ms, err
}

// copyMetadata gives mailbox dst a copy of src's entries, at a modseq of
// dst: RENAME of INBOX keeps INBOX's entries and copies them to the new
// mailbox (RFC 5464 4.1).
func (t *writeTx) copyMetadata(src, dst store.MailboxID) error {
	var n int
	if err := t.tx.QueryRowContext(t.ctx, `SELECT count(*) FROM metadata WHERE mailbox_id = ? AND value IS NOT NULL`, src).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	ms, err := t.modseq(dst)
	if err != nil {
		return err
	}
	_, err = t.tx.ExecContext(t.ctx, `INSERT INTO metadata (mailbox_id, name, value, modseq)
		SELECT ?, name, value, ? FROM metadata WHERE mailbox_id = ? AND value IS NOT NULL`, dst, ms, src)
	return err
}

// metadataEntry returns entry name of mailbox id: its value, whether it
// has one, and the modseq of its last change (0 when never set).
func (t *writeTx) metadataEntry(id store.MailboxID, name string) (value []byte, exists bool, ms store.ModSeq, err error) {
	err = t.tx.QueryRowContext(t.ctx, `SELECT value, value IS NOT NULL, modseq FROM metadata WHERE mailbox_id = ? AND name = ?`,
		id, name).Scan(&value, &exists, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	return value, exists, ms, err
}

// metadataSame reports whether setting value (nil: deleting) changes
// nothing for an entry holding old (exists: it has a value).
func metadataSame(value, old []byte, exists bool) bool {
	return value == nil && !exists || value != nil && exists && string(old) == string(value)
}

// putMetadata writes entry name of mailbox id (a nil value deletes it,
// keeping the row) at modseq ms.
func (t *writeTx) putMetadata(id store.MailboxID, name string, value []byte, ms store.ModSeq) error {
	if value != nil && len(value) == 0 {
		value = []byte{} // an empty value, not NULL
	}
	if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO metadata (mailbox_id, name, value, modseq) VALUES (?, ?, ?, ?)
		ON CONFLICT (mailbox_id, name) DO UPDATE SET value = excluded.value, modseq = excluded.modseq`,
		id, name, value, ms); err != nil {
		return fmt.Errorf("set metadata: %w", err)
	}
	return nil
}

// metadataIn returns the entries of mailbox id changed above since, in the
// read transaction q, deleted ones with a nil Value, ordered by name.
func metadataIn(ctx context.Context, q querier, id store.MailboxID, since store.ModSeq) ([]store.MetadataEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, value, value IS NOT NULL, modseq FROM metadata
		WHERE mailbox_id = ? AND modseq > ? ORDER BY name`, id, since)
	if err != nil {
		return nil, fmt.Errorf("metadata changes: %w", err)
	}
	defer rows.Close()
	var out []store.MetadataEntry
	for rows.Next() {
		var e store.MetadataEntry
		var present bool
		if err := rows.Scan(&e.Name, &e.Value, &present, &e.ModSeq); err != nil {
			return nil, err
		}
		if !present {
			e.Value = nil
		} else if e.Value == nil {
			e.Value = []byte{}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// applyServerMetadata writes a peer's server entries, each at
// max(the server counter + 1, its peer modseq), so the server counter
// is a Lamport clock between replicas like a mailbox's modseqs. An entry
// already so changes nothing.
func (t *writeTx) applyServerMetadata(entries []store.MetadataEntry) error {
	for _, e := range entries {
		old, exists, _, err := t.metadataEntry(store.ServerMetadata, e.Name)
		if err != nil {
			return err
		}
		if metadataSame(e.Value, old, exists) {
			continue
		}
		var ms store.ModSeq
		if err := t.tx.QueryRowContext(t.ctx, `SELECT coalesce(max(modseq), 0) + 1 FROM metadata WHERE mailbox_id = 0`).Scan(&ms); err != nil {
			return err
		}
		if err := t.putMetadata(store.ServerMetadata, e.Name, e.Value, max(ms, e.ModSeq)); err != nil {
			return err
		}
		t.accountChanged = true
	}
	return nil
}
