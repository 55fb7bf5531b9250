package server

import (
	"strings"

	"github.com/tidemark-mail/tidemark/internal/urlauth"
)

// RESETKEY (RFC 4467 6.1): without arguments every mailbox access key of
// the user is removed, revoking every URL the user has signed; with a
// mailbox (and optionally mechanisms, of which INTERNAL is the only one),
// that mailbox gets a new key, revoking the URLs to its messages. The
// tagged OK of the second form names the mechanisms (URLMECH), and the
// user's other sessions with the mailbox selected (any mailbox, for the
// first form) are told by an untagged OK [URLMECH INTERNAL].
func init() {
	register(&Command{Name: "RESETKEY", States: authenticated, Run: runResetKey})
}

func runResetKey(s *Session, c *Cmd) error {
	d := c.Dec
	var name string
	var mechs []string
	named := false
	if b, err := d.Peek(); err == nil && b == ' ' {
		d.SP()
		named = true
		if name, err = s.ReadMailbox(d); err != nil {
			return err
		}
		for {
			if b, err := d.Peek(); err != nil || b != ' ' {
				break
			}
			d.SP()
			m, err := d.Atom()
			if err != nil {
				return err
			}
			mechs = append(mechs, m)
		}
	}
	if err := c.End(); err != nil {
		return err
	}
	for _, m := range mechs {
		if !strings.EqualFold(m, urlauth.Internal) {
			return No("", "Unknown URLAUTH mechanism "+clipLen(m))
		}
	}
	ks, err := s.openAccessKeys(s.user)
	if err != nil {
		return err
	}
	defer ks.Close()
	if !named {
		if err := ks.RemoveAccessKeys(s.ctx()); err != nil {
			return err
		}
		s.srv.announceKeyReset(s, s.user, 0)
		c.Text = "All keys removed"
		return nil
	}
	mb, err := s.acct.Mailbox(s.ctx(), name)
	if err != nil {
		return err
	}
	if err := ks.ResetAccessKey(s.ctx(), mb.ID); err != nil {
		return err
	}
	s.srv.announceKeyReset(s, s.user, mb.ID)
	c.Code = "URLMECH " + urlauth.Internal
	c.Text = "Key reset"
	return nil
}
