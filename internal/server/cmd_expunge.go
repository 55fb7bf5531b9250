package server

import (
	"github.com/tidemark-mail/tidemark/internal/acl"
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
	if err := s.needSelected(acl.Expunge); err != nil {
		return err // RFC 4314 4
	}
	scope, err := s.expungeScope(within)
	if err != nil || scope.Empty() {
		return err // an EXPUNGE that removes nothing changes nothing
	}
	res, err := s.boxAcct().ExpungeDeleted(s.ctx(), s.view.Mailbox.ID, scope)
	if err != nil {
		return err
	}
	s.box.CommittedExpunge(res.ModSeq, res.UIDs)
	return s.sendHighestModSeq(c, res.ModSeq)
}

// expungeScope is the UID set an EXPUNGE hands to the store: the messages
// the client has been told about (UIDs up to the view's highest; one that
// arrived since the last sync is not the client's to expunge yet), within
// a UID set if one is given (nil: all). The store removes those that
// carry \Deleted when its transaction commits, so a \Deleted another
// session clears meanwhile saves the message.
//
// It is empty, and the store is not asked, when the shared in-memory copy
// of the mailbox, brought up to date first, shows no \Deleted message in
// that range (looking at a bounded number of messages, so a one-message
// UID EXPUNGE costs the same in any mailbox).
func (s *Session) expungeScope(within store.UIDSet) (store.UIDSet, error) {
	if err := s.box.Sync(s.ctx()); err != nil {
		return nil, err
	}
	hi := s.view.HighestUID()
	if hi == 0 {
		return nil, nil
	}
	scope := store.UIDSet{{Start: 1, Stop: hi}}
	if within != nil {
		scope = nil
		for _, r := range within {
			if r.Start > hi {
				break
			}
			scope.AddRange(r.Start, min(r.Stop, hi))
		}
	}
	if !s.box.DeletedIn(scope) {
		return nil, nil
	}
	return scope, nil
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
