package server

// UNAUTHENTICATE (RFC 8437): back to the not authenticated state on the
// same connection, so an administrative client or a proxy can reuse it for
// another user. Everything that came with the login is dropped — the
// selected mailbox (without expunge responses), the user's store handle
// and session slot, ENABLEd extensions (CONDSTORE, QRESYNC, IMAP4rev2,
// UTF8=ACCEPT: RFC 8437 4.1), the SEARCH result variable, COMPRESS —
// while TLS and what ID told the server stay. The answer is never NO.
func init() {
	register(&Command{Name: "UNAUTHENTICATE", States: authenticated, NoSync: true, Run: runUnauthenticate})
	addCapability("UNAUTHENTICATE", afterAuth)
}

func runUnauthenticate(s *Session, c *Cmd) error {
	if err := c.End(); err != nil {
		return err
	}
	s.unauthenticate()
	c.answered = true
	s.enc.Raw(c.Tag).Raw(" OK [CAPABILITY ").Raw(s.capabilityString()).Raw("] Not authenticated any more").CRLF()
	if err := s.enc.Flush(); err != nil {
		return err
	}
	// RFC 8437 4.1: compression ends right after the OK's CRLF, on both
	// sides.
	return s.endCompression()
}

// unauthenticate drops the session's login state (RFC 8437 3, 4.1).
func (s *Session) unauthenticate() {
	s.stopNotify() // the user's events stop with the login (RFC 5465)
	s.deselect()
	s.closeOthers()
	if s.acct != nil {
		s.acct.Close()
		s.acct = nil
	}
	if s.releaseUser != nil {
		s.releaseUser()
		s.releaseUser = nil
	}
	s.log.Info("unauthenticated")
	if s.anonLog != nil {
		s.log = s.anonLog
	}
	s.user = ""
	s.state = StateNotAuthenticated
	s.enabled = map[string]bool{}
	s.metaWatch = nil
	s.enc.UTF8 = false
	s.searchRes = savedSearch{}
}
