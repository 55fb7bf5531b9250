package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// schemaV13ACL adds RFC 4314 access control lists (store.ACL): one row per
// (owner, mailbox, identifier), rights as package acl stores them. A
// trigger removes a mailbox's entries with its row; the owner's go with
// the owner (cascade), and the entries naming a deleted user go with that
// user, so a user created again under the name inherits nothing.
const schemaV13ACL = `
CREATE TABLE acl (
	user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
	mailbox_id bigint NOT NULL,
	identifier text NOT NULL,
	rights     text NOT NULL,
	PRIMARY KEY (user_id, mailbox_id, identifier)
);
CREATE INDEX acl_identifier ON acl (identifier);
CREATE FUNCTION acl_mailbox_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM acl WHERE user_id = OLD.user_id AND mailbox_id = OLD.id;
	RETURN OLD;
END $$;
CREATE TRIGGER acl_mailbox_deleted AFTER DELETE ON mailboxes
	FOR EACH ROW EXECUTE FUNCTION acl_mailbox_deleted();
CREATE FUNCTION acl_grantee_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM acl WHERE identifier = OLD.name;
	RETURN OLD;
END $$;
CREATE TRIGGER acl_grantee_deleted AFTER DELETE ON users
	FOR EACH ROW EXECUTE FUNCTION acl_grantee_deleted();
`

var _ store.ACLStore = (*Store)(nil)

// OpenACL returns a handle on the lists of user's mailboxes
// (store.ACLStore).
func (s *Store) OpenACL(ctx context.Context, user string) (store.ACL, error) {
	a, err := s.openAccount(ctx, user)
	if err != nil {
		return nil, err
	}
	return &aclHandle{a: a}, nil
}

type aclHandle struct{ a *Account }

func (h *aclHandle) Close() error { return h.a.Close() }

func (h *aclHandle) MailboxACL(ctx context.Context, id store.MailboxID) ([]store.ACLEntry, error) {
	if _, err := lookupID(ctx, h.a.s.pool, h.a.id, id); err != nil {
		return nil, err
	}
	rows, err := h.a.s.pool.Query(ctx, `SELECT identifier, rights FROM acl
		WHERE user_id = $1 AND mailbox_id = $2 AND rights <> '' ORDER BY identifier COLLATE "C"`, h.a.id, id)
	if err != nil {
		return nil, fmt.Errorf("read acl: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.ACLEntry, error) {
		var e store.ACLEntry
		err := r.Scan(&e.Identifier, &e.Rights)
		return e, err
	})
}

func (h *aclHandle) SetACL(ctx context.Context, id store.MailboxID, identifier, rights string) error {
	return h.a.write(ctx, func(t *writeTx) error {
		if _, err := lookupID(ctx, t.tx, t.userID, id); err != nil {
			return err
		}
		stamp, err := sharingStamp(ctx, t.tx, t.userID)
		if err != nil {
			return err
		}
		// A removal keeps the row, with no rights, so that it replicates
		// (store.ACLRecord).
		return putACL(ctx, t.tx, t.userID, id, identifier, rights, stamp)
	})
}

// Grants finds the entries naming identifiers across every user of the
// database, by the identifier index (store.ACLStore).
func (s *Store) Grants(ctx context.Context, identifiers []string) ([]store.ACLGrant, error) {
	rows, err := s.pool.Query(ctx, `SELECT u.name, a.mailbox_id, a.identifier, a.rights
		FROM acl a JOIN users u ON u.id = a.user_id
		WHERE a.identifier = ANY($1) AND a.rights <> ''
		ORDER BY u.name COLLATE "C", a.mailbox_id, a.identifier COLLATE "C"`, identifiers)
	if err != nil {
		return nil, fmt.Errorf("read grants: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.ACLGrant, error) {
		var g store.ACLGrant
		err := r.Scan(&g.Owner, &g.Mailbox, &g.Identifier, &g.Rights)
		return g, err
	})
}

// ForgetGrantee drops every entry naming identifier: a user deleted on
// another cluster (shardstore.GranteeForgetter). A user deleted here is
// forgotten by a trigger.
func (s *Store) ForgetGrantee(ctx context.Context, identifier string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM acl WHERE identifier = $1`, identifier); err != nil {
		return fmt.Errorf("forget grantee: %w", err)
	}
	return nil
}
