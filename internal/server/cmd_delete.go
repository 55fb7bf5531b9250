package server

import (
	"errors"
	"github.com/tidemark-mail/tidemark/internal/acl"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// DELETE (RFC 9051 6.3.5). The store removes the mailbox and its messages
// and keeps its children, which then hang below a name that does not
// exist (listed as \NonExistent or \Noselect). INBOX cannot be deleted.
//
// Deleting the selected mailbox is allowed. The deleting session leaves
// the selected state first and tells its client with OK [CLOSED]
// (RFC 9051 7.1), so no later sync looks for the mailbox. Another session
// that has it selected finds it gone at its next sync point and is ended
// with BYE (see mailboxGone): it can neither keep showing messages that no
// longer exist nor pretend they were expunged from a mailbox that may
// since have been recreated under the same name.
func init() {
	register(&Command{Name: "DELETE", States: authenticated, Run: runDelete})
}

func runDelete(s *Session, c *Cmd) error {
	name, err := readMailboxArg(s, c.Dec)
	if err != nil {
		return err
	}
	if err := c.End(); err != nil {
		return err
	}
	if name == "INBOX" {
		return No("CANNOT", "INBOX cannot be deleted")
	}
	ctx := s.ctx()
	ref, err := s.resolve(name)
	if err != nil {
		return err
	}
	if err := ref.need(acl.DeleteMailbox); err != nil { // RFC 4314 4
		return err
	}
	if err := ref.acct.DeleteMailbox(ctx, ref.info.Name); err != nil {
		return err
	}
	// The store's Hub wakes the sessions that have the mailbox open; their
	// next sync point (or IDLE, at once) finds it gone.
	if s.view != nil && s.view.Mailbox.ID == ref.info.ID && s.boxOwner() == ref.owner {
		s.deselect()
		s.Untagged().Raw("OK [CLOSED] Selected mailbox deleted").CRLF()
	}
	return s.enc.Err()
}

// mailboxGone turns a sync error into what the client is told: when the
// selected mailbox no longer exists (another session deleted it), the
// connection ends with BYE, since no command on it could succeed any more
// and the client must reselect.
func mailboxGone(err error) error {
	if errors.Is(err, store.ErrNoMailbox) {
		return &wire.Error{Text: "Selected mailbox was deleted", Close: true}
	}
	return err
}
