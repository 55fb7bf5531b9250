package server

// CAPABILITY (RFC 9051 6.1.1).
func init() {
	register(&Command{Name: "CAPABILITY", States: anyState, Run: runCapability})
}

func runCapability(s *Session, c *Cmd) error {
	if err := c.End(); err != nil {
		return err
	}
	s.Untagged().Raw("CAPABILITY ").Raw(s.capabilityString()).CRLF()
	return nil
}
