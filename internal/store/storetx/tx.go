package storetx

import "github.com/tidemark-mail/tidemark/internal/store"

// Mailbox is a mailbox as a write transaction reads it.
type Mailbox struct {
	store.MailboxStatus
	// PrunedBelow is the modseq at or below which the mailbox's
	// tombstones were forgotten (PruneTombstones).
	PrunedBelow store.ModSeq
}

// Tx is what every rule here needs of a backend's write transaction.
type Tx interface {
	// Mailbox reads mailbox id, failing with store.ErrNoMailbox (wrapped)
	// when there is none.
	Mailbox(id store.MailboxID) (Mailbox, error)
	// ModSeq returns the modseq the transaction gives to changes in
	// mailbox id, allocating it on first use (RFC 7162 3.1.1): callers
	// ask only once they know something changes.
	ModSeq(id store.MailboxID) (store.ModSeq, error)
}
