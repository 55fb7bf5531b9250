package store

import (
	"context"
	"crypto/rand"
)

// URLAUTH mailbox access keys (RFC 4467 3): a secret per mailbox from
// which the server derives the token of every URLAUTH-authorized URL to
// that mailbox's messages. Replacing a mailbox's key revokes every URL
// made with the old one; a mailbox deleted (and one created again under
// its name, which has a new MailboxID) has no key, so its old URLs fail.
// The key never leaves the server: no IMAP command returns it.

// AccessKeySize is the length of a mailbox access key in octets: 256
// bits, above RFC 4467 7's floor of 128.
const AccessKeySize = 32

// NewAccessKey returns a fresh random mailbox access key.
func NewAccessKey() []byte {
	k := make([]byte, AccessKeySize)
	rand.Read(k) // never fails (crypto/rand, Go 1.24)
	return k
}

// AccessKeys reads and writes one user's mailbox access keys. Obtain it
// from a store implementing AccessKeyStore; close it when done. Writes
// are durable when they return.
type AccessKeys interface {
	Close() error
	// AccessKey returns mailbox id's key. A mailbox without one gets a
	// new key (NewAccessKey) when create is set, else AccessKey returns
	// nil. Two callers creating at once get the same key. ErrNoMailbox
	// when id does not exist.
	AccessKey(ctx context.Context, id MailboxID, create bool) ([]byte, error)
	// ResetAccessKey gives mailbox id a new key (RFC 4467 6.1, RESETKEY
	// with a mailbox). ErrNoMailbox when id does not exist.
	ResetAccessKey(ctx context.Context, id MailboxID) error
	// RemoveAccessKeys removes every key of the user (RESETKEY without
	// arguments); a mailbox gets a new one when next asked with create.
	RemoveAccessKeys(ctx context.Context) error
}

// AccessKeyStore is implemented by stores that keep mailbox access keys;
// found by a type assertion on the Store, like MetadataStore.
type AccessKeyStore interface {
	// OpenAccessKeys returns a handle on user's keys (ErrNoUser).
	OpenAccessKeys(ctx context.Context, user string) (AccessKeys, error)
}
