package store

import "context"

// DefaultMailbox is one mailbox every account gets on first use, with its
// RFC 6154 special-use attribute (Drafts with \Drafts, and so on).
type DefaultMailbox struct {
	Name       string
	SpecialUse SpecialUse
}

// DefaultCreator is implemented by Accounts that can give an account its
// default mailboxes once in its life; the server finds it by a type
// assertion and calls it at each login.
type DefaultCreator interface {
	// CreateDefaults gives the account its default mailboxes, once: the
	// first call ever made for the account creates, subscribed, each
	// mailbox of defs whose name is free and whose special-use no mailbox
	// has yet, and records in the same transaction that the defaults were
	// given. Every later call, concurrent ones included, changes nothing
	// and returns nil — so a default the user deleted is not made again.
	// It returns the mailboxes it created.
	CreateDefaults(ctx context.Context, defs []DefaultMailbox) ([]MailboxInfo, error)
}
