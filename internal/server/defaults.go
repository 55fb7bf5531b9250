package server

import "github.com/tidemark-mail/tidemark/internal/store"

// createDefaults gives a user who logs in for the first time the
// configured special-use mailboxes (RFC 6154), so that a client on a fresh
// account finds Drafts, Sent, Trash, Junk and Archive. The store makes it
// happen once per account (store.DefaultCreator), whatever the number of
// logins racing. A failure is logged and the login stands: the mailboxes
// are a convenience, and the next login tries again.
func (s *Session) createDefaults() {
	defs := s.srv.cfg.DefaultMailboxes
	if len(defs) == 0 {
		return
	}
	dc, ok := s.acct.(store.DefaultCreator)
	if !ok {
		return
	}
	created, err := dc.CreateDefaults(s.ctx(), append([]store.DefaultMailbox(nil), defs...))
	if err != nil {
		s.log.Error("creating the default mailboxes failed", "err", err)
		return
	}
	for _, m := range created {
		s.log.Info("default mailbox created", "mailbox", m.Name, "special_use", string(m.SpecialUse))
	}
}
