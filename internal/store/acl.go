package store

import "context"

// Access control lists (RFC 4314): per mailbox, a set of entries, each an
// identifier (a user name or "anyone") and the rights it is granted, kept
// as the letters package acl prints (Rights.Stored). The store keeps the
// entries and finds them; what the rights mean, and that the owner holds
// every right, is package acl's and the server's.
//
// Entries are keyed by MailboxID: they follow RENAME and go with the
// mailbox on DELETE (a mailbox created again under the name starts with
// none). They are read and written only through the owner's handle; the
// one way across users is Grants, which tells a user which mailboxes of
// others name them.

// ACLEntry is one entry of a mailbox's access control list.
type ACLEntry struct {
	Identifier string
	Rights     string
}

// ACLGrant is an entry of some user's mailbox, found by identifier.
type ACLGrant struct {
	Owner   string
	Mailbox MailboxID
	ACLEntry
}

// ACL reads and writes the access control lists of one user's mailboxes.
// Obtain it from a store implementing ACLStore; close it when done.
type ACL interface {
	Close() error
	// MailboxACL returns the entries of mailbox id, ordered by identifier
	// (ErrNoMailbox).
	MailboxACL(ctx context.Context, id MailboxID) ([]ACLEntry, error)
	// SetACL sets identifier's rights on mailbox id, replacing the entry
	// it had; empty rights remove the entry. It is durable when it returns
	// (ErrNoMailbox). It allocates no modseq: an ACL is not mailbox state
	// that CONDSTORE reports.
	SetACL(ctx context.Context, id MailboxID, identifier, rights string) error
}

// ACLStore is implemented by stores that keep access control lists;
// found by a type assertion on the Store.
type ACLStore interface {
	// OpenACL returns a handle on the lists of user's mailboxes
	// (ErrNoUser).
	OpenACL(ctx context.Context, user string) (ACL, error)
	// Grants returns every entry, in any user's mailboxes, whose
	// identifier is one of identifiers, with non-empty rights, ordered by
	// owner, then mailbox, then identifier. Entries of a user who no
	// longer exists are left out.
	Grants(ctx context.Context, identifiers []string) ([]ACLGrant, error)
}
