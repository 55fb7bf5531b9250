package server

import (
	"github.com/tidemark-mail/tidemark/internal/store"
)

// EXPUNGE (RFC 9051 6.4.3) and UID EXPUNGE (RFC 9051 6.4.9, UIDPLUS
// RFC 4315 2.1) remove the messages flagged \Deleted, all of them or
// those in a UID set. The removed messages are reported by the sync point
// as EXPUNGE, or VANISHED once QRESYNC is enabled (RFC 7162 3.2.7, 3.2.9):
// both commands declare Expunges, so the dispatcher lets them out.
//
// RFC 7162 3.2.7 and 3.2.9 require "OK [HIGHESTMODSEQ n]" when QRESYNC is
// enabled and something was expunged. The value is only safe if the
// client has been told every change up to n, so the command runs the sync
// itself first and quotes the modseq the view has then shown. CLOSE never
// sends it (RFC 7162 3.2.8).
func init() {
	register(
		&Command{Name: "EXPUNGE", States: StateSelected, Expunges: true, Run: runExpunge},
		&Command{Name: "EXPUNGE", UID: true, States: StateSelected, Expunges: true, Run: runExpunge},
	)
	addCapability("UIDPLUS", nil)
}

func runExpunge(s *Session, c *Cmd) error {
	d := c.Dec
	var within store.UIDSet
	if c.def.UID {
		if err := d.SP(); err != nil {
			return err
		}
		set, err := d.SeqSet()
		if err != nil {
			return err
		}
		if err := c.End(); err != nil {
			return err
		}
		if s.view.ReadOnly {
			return errReadOnly()
		}
		if within, err = s.SeqSetUIDs(set, true); err != nil || within.Empty() {
			return err
		}
	} else if err := c.End(); err != nil {
		return err
	} else if s.view.ReadOnly {
		return errReadOnly()
	}
	v := s.view
	deleted, err := s.deletedUIDs(within)
	if err != nil || deleted.Empty() {
		return err // an EXPUNGE that removes nothing changes nothing
	}
	res, err := s.acct.Expunge(s.ctx(), v.Mailbox.ID, deleted)
	if err != nil {
		return err
	}
	return s.sendHighestModSeq(c, res.ModSeq)
}

// deletedUIDs finds the messages of the selected mailbox flagged \Deleted,
// within a UID set if one is given (nil: all), from the shared in-memory
// copy of the mailbox, brought up to date first. Only messages the client
// has been told about are considered: one that arrived since the last
// sync is not the client's to expunge yet.
//
// The flag is read outside the expunge's transaction, so a \Deleted
// removed by another session in between does not save the message.
func (s *Session) deletedUIDs(within store.UIDSet) (store.UIDSet, error) {
	if err := s.box.Sync(s.ctx()); err != nil {
		return nil, err
	}
	hi := s.view.HighestUID()
	var deleted store.UIDSet
	for _, r := range s.box.Deleted() {
		if r.Start > hi {
			break
		}
		for u, stop := r.Start, min(r.Stop, hi); ; u++ {
			if within == nil || within.Contains(u) {
				deleted.Add(u)
			}
			if u == stop {
				break
			}
		}
	}
	return deleted, nil
}

// sendHighestModSeq completes a command that expunged (EXPUNGE, UID
// EXPUNGE, MOVE) under QRESYNC: it syncs now, so that every change up to
// the view's modseq has been sent, and quotes that modseq in the tagged
// OK (RFC 7162 3.2.7, RFC 6851 4.4). changed is the modseq of the
// command's own change; 0 means nothing changed and nothing is quoted.
func (s *Session) sendHighestModSeq(c *Cmd, changed store.ModSeq) error {
	if changed == 0 || !s.Enabled("QRESYNC") {
		return nil
	}
	if err := s.sync(true); err != nil {
		return err
	}
	c.Code = "HIGHESTMODSEQ " + itoa64(uint64(s.view.ShownModSeq()))
	return nil
}
