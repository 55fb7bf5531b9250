package server

import (
	"strconv"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/view"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// SELECT and EXAMINE (RFC 9051 6.3.2, 6.3.3), with the CONDSTORE and
// QRESYNC parameters (RFC 7162 3.1.8, 3.2.5).
func init() {
	register(
		&Command{Name: "SELECT", States: authenticated, NoSync: true, Run: runSelect},
		&Command{Name: "EXAMINE", States: authenticated, NoSync: true, Run: runSelect},
	)
	addCapability("QRESYNC", nil)
}

// qresyncParams is the QRESYNC select parameter.
type qresyncParams struct {
	uidValidity uint32
	modSeq      store.ModSeq
	knownUIDs   wire.SeqSet // empty when not given
}

func runSelect(s *Session, c *Cmd) error {
	d := c.Dec
	if err := d.SP(); err != nil {
		return err
	}
	name, err := s.ReadMailbox(d)
	if err != nil {
		return err
	}
	var qr *qresyncParams
	if d.Special(' ') {
		err := d.List(func() error {
			p, err := d.Atom()
			if err != nil {
				return err
			}
			switch strings.ToUpper(p) {
			case "CONDSTORE":
				s.EnableCondstore()
				return nil
			case "QRESYNC":
				if !s.Enabled("QRESYNC") {
					return Bad("", "QRESYNC must be enabled first") // RFC 7162 3.2.5
				}
				qr, err = readQresyncParam(d)
				return err
			}
			return Bad("", "Unknown select parameter "+p)
		})
		if err != nil {
			return err
		}
	}
	if err := c.End(); err != nil {
		return err
	}

	// RFC 9051 6.3.2: selecting deselects first, whatever the outcome;
	// the client learns it from the CLOSED response code.
	if s.view != nil {
		s.deselect()
		s.Untagged().Raw("OK [CLOSED] Previous mailbox closed").CRLF()
	}
	ctx := s.ctx()
	info, err := s.acct.Mailbox(ctx, name)
	if err != nil {
		return err
	}
	box, err := s.srv.boxes.Acquire(ctx, s.user, info.ID)
	if err != nil {
		return err
	}
	mb, uids, sum := box.Current()
	readOnly := c.Name == "EXAMINE"
	v := view.NewFromUIDs(mb, uids, sum.Keywords, readOnly)
	selected := false
	defer func() {
		if !selected {
			box.Release()
		}
	}()

	s.writeFlagList(v.Keywords())
	s.Untagged().Number(v.Exists()).Raw(" EXISTS").CRLF()
	if !s.Rev2() {
		// IMAP4rev1 requires RECENT; Tidemark does not track \Recent
		// (IMAP4rev2 dropped it), so no message is recent.
		s.Untagged().Raw("0 RECENT").CRLF()
		if sum.FirstUnseenSeq != 0 {
			s.Untagged().Raw("OK [UNSEEN ").Number(sum.FirstUnseenSeq).Raw("] First unseen").CRLF()
		}
	}
	s.Untagged().Raw("OK [UIDVALIDITY ").Number(mb.UIDValidity).Raw("] UIDs valid").CRLF()
	s.Untagged().Raw("OK [UIDNEXT ").Number(uint32(mb.UIDNext)).Raw("] Predicted next UID").CRLF()
	// Sent whether or not CONDSTORE is enabled: modseqs are always kept,
	// and the value does not depend on the client (design principle 1).
	s.Untagged().Raw("OK [HIGHESTMODSEQ ").Number64(uint64(mb.HighestModSeq)).Raw("] Highest").CRLF()
	s.Untagged().Raw("OK [MAILBOXID (").Raw(MailboxObjectID(mb.ID)).Raw(")] Ok").CRLF() // RFC 8474 4.1
	if s.Rev2() {
		s.Untagged().Raw("LIST () \"/\" ").Mailbox(mb.Name).CRLF() // RFC 9051 6.3.2
	}
	if qr != nil && qr.uidValidity == mb.UIDValidity {
		if err := s.qresyncSelect(v, qr); err != nil {
			return err
		}
	}

	s.view, s.box, selected = v, box, true
	s.state = StateSelected
	if readOnly {
		c.Code = "READ-ONLY"
	} else {
		c.Code = "READ-WRITE"
	}
	return s.enc.Err()
}

// MailboxObjectID is a mailbox's RFC 8474 MAILBOXID.
func MailboxObjectID(id store.MailboxID) string { return "M" + strconv.FormatInt(int64(id), 10) }

func readQresyncParam(d *wire.Decoder) (*qresyncParams, error) {
	if err := d.SP(); err != nil {
		return nil, err
	}
	var p qresyncParams
	n := 0
	err := d.List(func() error {
		var err error
		switch n {
		case 0:
			p.uidValidity, err = d.NzNumber()
		case 1:
			var m uint64
			m, err = d.Number64()
			p.modSeq = store.ModSeq(m)
		case 2:
			if c, perr := d.Peek(); perr == nil && c == '(' {
				// seq-match-data: only useful once history is pruned;
				// Tidemark's tombstones make it unnecessary, so it is
				// read and ignored.
				err = d.List(func() error { _, err := d.SeqSet(); return err })
			} else {
				p.knownUIDs, err = d.SeqSet()
			}
		case 3:
			err = d.List(func() error { _, err := d.SeqSet(); return err })
		default:
			err = Bad("", "Too many QRESYNC parameters")
		}
		n++
		return err
	})
	if err == nil && n < 2 {
		err = Bad("", "QRESYNC needs UIDVALIDITY and MODSEQ")
	}
	return &p, err
}

// qresyncSelect reports what changed since the client's modseq (RFC 7162
// 3.2.5.1): VANISHED (EARLIER) for expunges, then FETCH for changes.
func (s *Session) qresyncSelect(v *view.View, qr *qresyncParams) error {
	ch, err := s.acct.ChangesSince(s.ctx(), v.Mailbox.ID, qr.modSeq)
	if err != nil {
		return err
	}
	vanished := ch.Vanished
	if len(qr.knownUIDs.Ranges) > 0 {
		known := qr.knownUIDs.UIDSet(v.Mailbox.UIDNext - 1)
		var kept store.UIDSet
		for _, r := range vanished {
			for _, k := range known {
				lo, hi := max(r.Start, k.Start), min(r.Stop, k.Stop)
				if lo <= hi {
					kept.AddRange(lo, hi)
				}
			}
		}
		vanished = kept
	}
	if !vanished.Empty() {
		s.Untagged().Raw("VANISHED (EARLIER) ").UIDSet(vanished).CRLF()
	}
	for _, m := range ch.Changed {
		if m.ModSeq > v.ShownModSeq() {
			continue // committed after the snapshot: the next sync reports it
		}
		if seq, ok := v.Seq(m.UID); ok {
			s.WriteFetchFlags(seq, m)
		}
	}
	return nil
}
