package server

// LSUB (RFC 3501 6.3.9), IMAP4rev1's listing of subscriptions, kept for
// IMAP4rev1 clients (IMAP4rev2 replaced it with LIST (SUBSCRIBED)). A
// name matched by "%" that is not subscribed but has subscribed names
// below it is returned with \Noselect, as RFC 3501 requires.
func init() {
	register(&Command{Name: "LSUB", States: authenticated, Run: runLsub})
}

func runLsub(s *Session, c *Cmd) error {
	d := c.Dec
	ref, err := readMailboxArg(s, d)
	if err == errNameNotMUTF7 {
		ref, err = noMatchPattern, nil
	}
	if err != nil {
		return err
	}
	if err := d.SP(); err != nil {
		return err
	}
	pat, err := s.readListMailbox(d)
	if err != nil {
		return err
	}
	if err := c.End(); err != nil {
		return err
	}
	if pat == "" {
		s.Untagged().Raw(`LSUB (\Noselect) "` + hierarchyDelimiter + `" ""`).CRLF()
		return s.enc.Err()
	}
	lp, ok := compileListPattern(ref + pat)
	if !ok || pat == noMatchPattern || ref == noMatchPattern {
		return nil
	}
	entries, err := s.listMailboxes(listQuery{patterns: listPatterns{lp}, subscribedOnly: true, levels: true})
	if err != nil {
		return err
	}
	for _, e := range entries {
		attrs := "()"
		if !e.selected {
			attrs = `(\Noselect)`
		}
		s.Untagged().Raw("LSUB " + attrs + ` "` + hierarchyDelimiter + `" `).Mailbox(e.name).CRLF()
	}
	return s.enc.Err()
}
