package store

import (
	"context"
	"errors"
)

// ErrMessageGone is returned by Replace when the message to replace does
// not exist (expunged meanwhile): nothing was appended.
var ErrMessageGone = errors.New("message to replace does not exist")

// ReplaceResult reports a Replace: the new message's UID (UIDPLUS
// APPENDUID) and the expunge of the old one.
type ReplaceResult struct {
	Append  AppendResult
	Expunge ExpungeResult
}

// Replacer is implemented by Accounts that replace a message atomically
// (IMAP REPLACE, RFC 8508); the server finds it by a type assertion.
type Replacer interface {
	// Replace appends msg to mailbox dst and expunges message uid of
	// mailbox src (leaving its tombstone) in one transaction: both or
	// neither. dst may be src; then both changes share one modseq. When
	// uid does not exist at commit the call fails with ErrMessageGone and
	// changes nothing.
	Replace(ctx context.Context, src MailboxID, uid UID, dst MailboxID, msg NewMessage) (ReplaceResult, error)
}
