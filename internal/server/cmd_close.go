package server

// CLOSE (RFC 9051 6.4.1) expunges the \Deleted messages of a read-write
// mailbox without reporting them, then deselects; UNSELECT (RFC 3691)
// deselects without expunging. Neither sends HIGHESTMODSEQ (RFC 7162 3.2.7
// would allow a tagged OK [HIGHESTMODSEQ] only after QRESYNC's CLOSE,
// and leaving it out avoids racing with other sessions' commits).
func init() {
	register(
		&Command{Name: "CLOSE", States: StateSelected, NoSync: true, Run: runClose},
		&Command{Name: "UNSELECT", States: StateSelected, NoSync: true, Run: runUnselect},
	)
}

func runClose(s *Session, c *Cmd) error {
	if err := c.End(); err != nil {
		return err
	}
	v, box := s.view, s.box
	box.Acquire()
	defer box.Release()
	s.deselect()
	if v.ReadOnly {
		return nil
	}
	ctx := s.ctx()
	if err := box.Sync(ctx); err != nil {
		return err
	}
	deleted := box.Deleted()
	if deleted.Empty() {
		return nil
	}
	_, err := s.acct.Expunge(ctx, v.Mailbox.ID, deleted)
	return err
}

func runUnselect(s *Session, c *Cmd) error {
	if err := c.End(); err != nil {
		return err
	}
	s.deselect()
	return nil
}
