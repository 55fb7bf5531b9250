package server

// LOGOUT (RFC 9051 6.1.3): BYE, then the tagged OK, then close.
func init() {
	register(&Command{Name: "LOGOUT", States: anyState, NoSync: true, Run: runLogout})
}

func runLogout(s *Session, c *Cmd) error {
	if err := c.End(); err != nil {
		return err
	}
	s.Untagged().Raw("BYE Tidemark logging out").CRLF()
	s.state = StateLogout
	return nil
}
