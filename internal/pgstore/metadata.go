package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/store"
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
	seen := make(map[string]bool)
	var out []store.MetadataEntry
	for _, name := range names {
		rows, err := m.a.s.pool.Query(ctx, `SELECT name, value, modseq FROM metadata
			WHERE user_id = $1 AND mailbox_id = $2 AND value IS NOT NULL
			AND (name = $3 OR ($4 AND name >= $5 COLLATE "C" AND name < $6 COLLATE "C"))`,
			m.a.id, id, name, depth != 0, name+"/", name+"0")
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

func (m *metadataHandle) SetMetadata(ctx context.Context, id store.MailboxID, entries []store.MetadataEntry, limits store.MetadataLimits) (store.ModSeq, error) {
	if limits.MaxSize > 0 {
		for _, e := range entries {
			if len(e.Value) > limits.MaxSize {
				return 0, &store.MetadataLimitError{MaxSize: limits.MaxSize}
			}
		}
	}
	var ms store.ModSeq
	err := m.a.write(ctx, func(t *writeTx) error {
		ms = 0
		if err := m.checkMailbox(ctx, t.tx, id); err != nil {
			return err
		}
		type change struct {
			name  string
			value []byte
		}
		var changes []change
		delta := 0
		for _, e := range entries {
			old, exists, _, err := t.metadataEntry(id, e.Name)
			if err != nil {
				return err
			}
			if metadataSame(e.Value, old, exists) {
				continue // already so: no change, no modseq
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
			if err := t.tx.QueryRow(ctx, `SELECT count(*) FROM metadata WHERE user_id = $1 AND mailbox_id = $2 AND value IS NOT NULL`,
				t.userID, id).Scan(&n); err != nil {
				return err
			}
			if n+delta > limits.MaxEntries {
				return &store.MetadataLimitError{TooMany: true}
			}
		}
		if id == store.ServerMetadata {
			if err := t.tx.QueryRow(ctx, `SELECT coalesce(max(modseq), 0) + 1 FROM metadata WHERE user_id = $1 AND mailbox_id = 0`,
				t.userID).Scan(&ms); err != nil {
				return err
			}
			t.accountChanged()
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
	return metadataIn(ctx, m.a.s.pool, m.a.id, id, since)
}

func (m *metadataHandle) ServerMetadataModSeq(ctx context.Context) (store.ModSeq, error) {
	var ms store.ModSeq
	err := m.a.s.pool.QueryRow(ctx, `SELECT coalesce(max(modseq), 0) FROM metadata WHERE user_id = $1 AND mailbox_id = 0`, m.a.id).Scan(&ms)
	return ms, err
}

// copyMetadata gives mailbox dst a copy of src's entries, at a modseq of
// dst: RENAME of INBOX keeps INBOX's entries and copies them to the new
// mailbox (RFC 5464 4.1).
func (t *writeTx) copyMetadata(src, dst store.MailboxID) error {
	var n int
	if err := t.tx.QueryRow(t.ctx, `SELECT count(*) FROM metadata WHERE user_id = $1 AND mailbox_id = $2 AND value IS NOT NULL`,
		t.userID, src).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	ms, err := t.modseq(dst)
	if err != nil {
		return err
	}
	_, err = t.tx.Exec(t.ctx, `INSERT INTO metadata (user_id, mailbox_id, name, value, modseq)
		SELECT user_id, $1, name, value, $2 FROM metadata WHERE user_id = $3 AND mailbox_id = $4 AND value IS NOT NULL`,
		dst, ms, t.userID, src)
	return err
}

// metadataEntry returns entry name of mailbox id: its value, whether it
// has one, and the modseq of its last change (0 when never set).
func (t *writeTx) metadataEntry(id store.MailboxID, name string) (value []byte, exists bool, ms store.ModSeq, err error) {
	err = t.tx.QueryRow(t.ctx, `SELECT value, value IS NOT NULL, modseq FROM metadata WHERE user_id = $1 AND mailbox_id = $2 AND name = $3`,
		t.userID, id, name).Scan(&value, &exists, &ms)
	if errors.Is(err, pgx.ErrNoRows) {
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
	var v any = value
	if value == nil {
		v = nil
	} else if len(value) == 0 {
		v = []byte{}
	}
	if _, err := t.tx.Exec(t.ctx, `INSERT INTO metadata (user_id, mailbox_id, name, value, modseq) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id, mailbox_id, name) DO UPDATE SET value = excluded.value, modseq = excluded.modseq`,
		t.userID, id, name, v, ms); err != nil {
		return fmt.Errorf("set metadata: %w", err)
	}
	return nil
}

// metadataIn returns the entries of mailbox id changed above since,
// deleted ones with a nil Value, ordered by name.
func metadataIn(ctx context.Context, q querier, userID int64, id store.MailboxID, since store.ModSeq) ([]store.MetadataEntry, error) {
	rows, err := q.Query(ctx, `SELECT name, value, value IS NOT NULL, modseq FROM metadata
		WHERE user_id = $1 AND mailbox_id = $2 AND modseq > $3 ORDER BY name COLLATE "C"`, userID, id, since)
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
		if err := t.tx.QueryRow(t.ctx, `SELECT coalesce(max(modseq), 0) + 1 FROM metadata WHERE user_id = $1 AND mailbox_id = 0`,
			t.userID).Scan(&ms); err != nil {
			return err
		}
		if err := t.putMetadata(store.ServerMetadata, e.Name, e.Value, max(ms, e.ModSeq)); err != nil {
			return err
		}
		t.accountChanged()
	}
	return nil
}
