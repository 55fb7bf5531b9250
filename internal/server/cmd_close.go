package server

import (
	"github.com/tidemark-mail/tidemark/internal/acl"
	"github.com/tidemark-mail/tidemark/internal/store"
)

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
	acct, rights := s.boxAcct(), s.selectedRights()
	box.Acquire()
	defer box.Release()
	s.deselect()
	if v.ReadOnly || !rights.Has(acl.Expunge) {
		return nil // RFC 4314 4: without "e" CLOSE only closes
	}
	ctx := s.ctx()
	if err := box.Sync(ctx); err != nil {
		return err
	}
	// The in-memory copy only says whether a store call is worth making;
	// the store removes what is still \Deleted when it commits.
	if !box.DeletedIn(nil) {
		return nil
	}
	_, err := acct.ExpungeDeleted(ctx, v.Mailbox.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}})
	return err
}

func runUnselect(s *Session, c *Cmd) error {
	if err := c.End(); err != nil {
		return err
	}
	s.deselect()
	return nil
}
