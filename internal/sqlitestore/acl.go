package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// schemaV10ACL adds RFC 4314 access control lists (see the package doc).
const schemaV10ACL = `
CREATE TABLE acl (
	mailbox_id INTEGER NOT NULL,
	identifier TEXT NOT NULL,
	rights     TEXT NOT NULL,
	PRIMARY KEY (mailbox_id, identifier)
) WITHOUT ROWID;
CREATE INDEX acl_identifier ON acl (identifier);
CREATE TRIGGER acl_mailbox_deleted AFTER DELETE ON mailboxes BEGIN
	DELETE FROM acl WHERE mailbox_id = OLD.id;
END;
`

// The entries live in the owner's database, so that they change in the
// owner's transactions and follow the mailbox. To find the mailboxes shared
// with a user without opening every database, the store keeps beside them
// an index of markers, DATA/shared/<identifier>/<owner>: an empty file
// saying "owner's database may hold entries naming identifier". It is a
// superset, never less: a marker is made durable before the entry that
// needs it commits, and removed only once the owner's database holds no
// entry for the identifier. A marker whose owner is gone is skipped.
//
// When a user is deleted, the markers naming them go, and their entries in
// other users' databases are stale; a marker that is absent when an owner
// grants an identifier something therefore means every entry for that
// identifier in the owner's database is stale, and those are deleted first
// (a user created again under a deleted user's name inherits nothing).

var _ store.ACLStore = (*Store)(nil)

func (s *Store) sharedDir(identifier string) string {
	return filepath.Join(s.dir, "shared", identifier)
}

// OpenACL returns a handle on the lists of user's mailboxes
// (store.ACLStore).
func (s *Store) OpenACL(ctx context.Context, user string) (store.ACL, error) {
	a, err := s.openAccount(ctx, user)
	if err != nil {
		return nil, err
	}
	return &aclHandle{s: s, a: a}, nil
}

type aclHandle struct {
	s *Store
	a *Account
}

func (h *aclHandle) Close() error { return h.a.Close() }

func (h *aclHandle) MailboxACL(ctx context.Context, id store.MailboxID) ([]store.ACLEntry, error) {
	var one int
	err := h.a.u.r.QueryRowContext(ctx, `SELECT 1 FROM mailboxes WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("mailbox %d: %w", id, store.ErrNoMailbox)
	} else if err != nil {
		return nil, err
	}
	rows, err := h.a.u.r.QueryContext(ctx, `SELECT identifier, rights FROM acl WHERE mailbox_id = ? AND rights != '' ORDER BY identifier`, id)
	if err != nil {
		return nil, fmt.Errorf("read acl: %w", err)
	}
	defer rows.Close()
	var out []store.ACLEntry
	for rows.Next() {
		var e store.ACLEntry
		if err := rows.Scan(&e.Identifier, &e.Rights); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (h *aclHandle) SetACL(ctx context.Context, id store.MailboxID, identifier, rights string) error {
	// The identifier names a file: only names a user could have.
	if _, err := ValidUserName(identifier); err != nil {
		return fmt.Errorf("set acl: %w: %w", store.ErrCannot, err)
	}
	h.s.aclMu.Lock()
	defer h.s.aclMu.Unlock()
	if err := h.ensureMarker(ctx, identifier); err != nil {
		return err
	}
	return h.a.u.write(ctx, func(t *writeTx) error {
		var one int
		err := t.tx.QueryRowContext(ctx, `SELECT 1 FROM mailboxes WHERE id = ?`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("mailbox %d: %w", id, store.ErrNoMailbox)
		} else if err != nil {
			return err
		}
		stamp, err := sharingStamp(ctx, t.tx)
		if err != nil {
			return err
		}
		// A removal keeps the row, with no rights, so that it replicates
		// (store.ACLRecord); the marker stays with it.
		return putACL(ctx, t.tx, id, identifier, rights, stamp)
	})
}

func putACL(ctx context.Context, q querier, id store.MailboxID, identifier, rights string, stamp uint64) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO acl (mailbox_id, identifier, rights, stamp) VALUES (?, ?, ?, ?)
		ON CONFLICT (mailbox_id, identifier) DO UPDATE SET rights = excluded.rights, stamp = excluded.stamp`,
		id, identifier, rights, int64(stamp)); err != nil {
		return fmt.Errorf("set acl: %w", err)
	}
	return nil
}

func (s *Store) markerPath(identifier, owner string) string {
	return filepath.Join(s.sharedDir(identifier), owner)
}

// ensureMarker makes the marker of identifier in the owner's lists,
// first deleting the entries a deleted user of that name left when it is
// missing (see above); the caller holds aclMu. A marker stays as long as
// the owner's database holds a row naming the identifier, a removed
// entry's too: deleting that row as stale would let a peer's older grant
// come back (store.ACLRecord).
func (h *aclHandle) ensureMarker(ctx context.Context, identifier string) error {
	marker := h.s.markerPath(identifier, h.a.u.name)
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	err := h.a.u.write(ctx, func(t *writeTx) error {
		_, err := t.tx.ExecContext(ctx, `DELETE FROM acl WHERE identifier = ?`, identifier)
		return err
	})
	if err != nil {
		return fmt.Errorf("set acl: %w", err)
	}
	return writeMarker(marker)
}

// writeMarker creates a marker file durably.
func writeMarker(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("acl index: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("acl index: %w", err)
	}
	f.Close()
	if err := syncDir(dir); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

// Grants finds the entries naming identifiers through the marker index,
// then reads them from each owner's database (store.ACLStore).
func (s *Store) Grants(ctx context.Context, identifiers []string) ([]store.ACLGrant, error) {
	owners := map[string]bool{}
	for _, id := range identifiers {
		if _, err := ValidUserName(id); err != nil {
			continue
		}
		es, err := os.ReadDir(s.sharedDir(id))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("acl index: %w", err)
		}
		for _, e := range es {
			owners[e.Name()] = true
		}
	}
	names := make([]string, 0, len(owners))
	for o := range owners {
		names = append(names, o)
	}
	sort.Strings(names)
	var out []store.ACLGrant
	for _, owner := range names {
		a, err := s.openAccount(ctx, owner)
		if errors.Is(err, store.ErrNoUser) {
			continue
		} else if err != nil {
			return nil, err
		}
		err = func() error {
			defer a.Close()
			for _, id := range identifiers {
				rows, err := a.u.r.QueryContext(ctx, `SELECT mailbox_id, rights FROM acl WHERE identifier = ? AND rights != ''`, id)
				if err != nil {
					return fmt.Errorf("read acl: %w", err)
				}
				for rows.Next() {
					g := store.ACLGrant{Owner: owner, ACLEntry: store.ACLEntry{Identifier: id}}
					if err := rows.Scan(&g.Mailbox, &g.Rights); err != nil {
						rows.Close()
						return err
					}
					out = append(out, g)
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return err
				}
			}
			return nil
		}()
		if err != nil {
			return nil, err
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Owner != out[j].Owner {
			return out[i].Owner < out[j].Owner
		}
		if out[i].Mailbox != out[j].Mailbox {
			return out[i].Mailbox < out[j].Mailbox
		}
		return out[i].Identifier < out[j].Identifier
	})
	return out, nil
}

// forgetGrantee removes the markers naming a deleted user, so that entries
// naming them are never found again (see above).
func (s *Store) forgetGrantee(name string) error {
	if err := os.RemoveAll(s.sharedDir(name)); err != nil {
		return fmt.Errorf("acl index: %w", err)
	}
	return nil
}

// restoreMarkers makes the markers a restored database's lists need: the
// entries naming "anyone" or a user who exists get theirs, those naming a
// user who no longer exists are deleted (whoever takes the name later
// gets nothing of them).
func (s *Store) restoreMarkers(ctx context.Context, a *Account) error {
	rows, err := a.u.r.QueryContext(ctx, `SELECT DISTINCT identifier FROM acl`)
	if err != nil {
		return fmt.Errorf("read acl: %w", err)
	}
	ids, err := scanColumn[string](rows)
	if err != nil {
		return err
	}
	s.aclMu.Lock()
	defer s.aclMu.Unlock()
	for _, id := range ids {
		if _, err := ValidUserName(id); err != nil {
			continue
		}
		if _, err := os.Stat(s.userDir(id)); id == "anyone" || err == nil {
			if err := writeMarker(filepath.Join(s.sharedDir(id), a.u.name)); err != nil {
				return err
			}
			continue
		}
		err := a.u.write(ctx, func(t *writeTx) error {
			_, err := t.tx.ExecContext(ctx, `DELETE FROM acl WHERE identifier = ?`, id)
			return err
		})
		if err != nil {
			return fmt.Errorf("set acl: %w", err)
		}
	}
	return nil
}
