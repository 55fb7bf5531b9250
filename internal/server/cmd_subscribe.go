package server

// SUBSCRIBE and UNSUBSCRIBE (RFC 9051 6.3.7, 6.3.8). Subscriptions are
// names: a name may be subscribed whether or not a mailbox has it, and
// stays subscribed when the mailbox is deleted or renamed.
func init() {
	register(
		&Command{Name: "SUBSCRIBE", States: authenticated, Run: runSubscribe},
		&Command{Name: "UNSUBSCRIBE", States: authenticated, Run: runSubscribe},
	)
}

func runSubscribe(s *Session, c *Cmd) error {
	name, err := readMailboxArg(s, c.Dec)
	if err != nil {
		return err
	}
	if err := c.End(); err != nil {
		return err
	}
	return s.acct.SetSubscribed(s.ctx(), name, c.Name == "SUBSCRIBE")
}
