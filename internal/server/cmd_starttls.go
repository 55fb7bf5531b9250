package server

import (
	"crypto/tls"
	"fmt"
	"time"
)

// STARTTLS (RFC 9051 6.2.1), offered on plain connections when the server
// has a TLS configuration.
func init() {
	register(&Command{Name: "STARTTLS", States: StateNotAuthenticated, NoSync: true, Run: runStartTLS})
	addCapability("STARTTLS", func(s *Session) bool { return beforeAuth(s) && !s.tls && s.srv.cfg.TLS != nil })
}

func runStartTLS(s *Session, c *Cmd) error {
	if err := c.End(); err != nil {
		return err
	}
	if s.tls || s.srv.cfg.TLS == nil {
		return Bad("", "STARTTLS is not available")
	}
	// Anything the client sent after STARTTLS was sent in the clear and
	// must not be taken as coming over TLS (the command-injection attack
	// of RFC 2595 section 3.1 / CVE-2011-0411): refuse it.
	if s.br.Buffered() > 0 {
		return Bad("CLIENTBUG", "Data after STARTTLS")
	}
	c.answered = true
	s.enc.Raw(c.Tag).Raw(" OK Begin TLS negotiation now").CRLF()
	if err := s.enc.Flush(); err != nil {
		return err
	}
	tc := tls.Server(s.conn(), s.srv.cfg.TLS)
	tc.SetDeadline(time.Now().Add(time.Minute))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("server: STARTTLS handshake: %w", err)
	}
	tc.SetDeadline(time.Time{})
	s.mu.Lock()
	s.nc = tc
	s.mu.Unlock()
	s.setupIO(tc)
	s.tls = true
	return nil
}
