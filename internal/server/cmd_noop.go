package server

// NOOP (RFC 9051 6.1.2) and CHECK (RFC 3501 6.4.1, gone from IMAP4rev2
// but still sent by IMAP4rev1 clients) do nothing themselves: their point
// is the sync point after them, which reports what changed.
func init() {
	register(
		&Command{Name: "NOOP", States: anyState, Run: runNoop},
		&Command{Name: "CHECK", States: StateSelected, Run: runNoop},
	)
}

func runNoop(s *Session, c *Cmd) error { return c.End() }
