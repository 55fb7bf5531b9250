package server

import (
	"errors"
	"strconv"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/acl"
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

// qresyncParams is the QRESYNC select parameter (RFC 7162 3.2.5).
type qresyncParams struct {
	uidValidity uint32
	modSeq      store.ModSeq
	knownUIDs   store.UIDSet   // nil when not given: every UID below UIDNEXT
	match       *view.SeqMatch // nil when not given
}

func runSelect(s *Session, c *Cmd) error {
	d := c.Dec
	if err := d.SP(); err != nil {
		return err
	}
	name, err := s.ReadMailbox(d)
	badName := err == errNameNotMUTF7 // answered once the old mailbox is closed
	if err != nil && !badName {
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
				// RFC 7162 3.1.8. SELECT reports HIGHESTMODSEQ itself, so
				// there is nothing to announce.
				s.enabled["CONDSTORE"] = true
				return nil
			case "QRESYNC":
				if !s.Enabled("QRESYNC") {
					return Bad("", "QRESYNC must be enabled first") // RFC 7162 3.2.5
				}
				qr, err = readQresyncParam(d)
				if err == nil && qr.match != nil && s.uidOnly() {
					return errUIDRequired() // RFC 9586 3: seq-match-data holds sequence numbers
				}
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
	if badName {
		return errNameNotMUTF7
	}
	ctx := s.ctx()
	ref, err := s.resolve(name)
	if err != nil {
		return err
	}
	if err := ref.need(acl.Read); err != nil { // RFC 4314 4
		return err
	}
	box, err := s.srv.boxes.Acquire(ctx, ref.owner, ref.info.ID)
	if err != nil {
		return err
	}
	mb, uids, sum := box.Current()
	// RFC 4314 5.2: read-only without a right that changes the mailbox.
	readOnly := c.Name == "EXAMINE" || !ref.rights.Any(acl.Insert|acl.Expunge|acl.Seen|acl.Write|acl.DeleteMessages)
	v := view.NewFromList(mb, uids, sum.Keywords, readOnly)
	if ref.isShared(s) {
		s.shared = &sharedSel{owner: ref.owner, acct: ref.acct, rights: ref.rights}
	}
	selected := false
	defer func() {
		if !selected {
			box.Release()
			s.shared = nil
		}
	}()

	s.writeFlagList(v.Keywords())
	s.Untagged().Number(v.Exists()).Raw(" EXISTS").CRLF()
	if !s.Rev2() {
		// IMAP4rev1: a read-write SELECT claims the messages no session
		// has seen yet; EXAMINE only looks (recent.go).
		s.recent, s.recentUpTo = nil, 0
		recent, err := s.claimRecent(v, box, mb.UIDNext)
		if errors.Is(err, store.ErrNoSpace) {
			// A full disk must not cost the client its mailbox: nothing
			// was claimed, the messages stay recent for the next session.
			s.log.Warn("claiming recent messages failed", "mailbox", mb.Name, "err", err)
		} else if err != nil {
			return err
		}
		s.Untagged().Number(recent).Raw(" RECENT").CRLF()
		if sum.FirstUnseenSeq != 0 {
			s.Untagged().Raw("OK [UNSEEN ").Number(sum.FirstUnseenSeq).Raw("] First unseen").CRLF()
		}
	}
	s.Untagged().Raw("OK [UIDVALIDITY ").Number(mb.UIDValidity).Raw("] UIDs valid").CRLF()
	s.Untagged().Raw("OK [UIDNEXT ").Number(uint32(mb.UIDNext)).Raw("] Predicted next UID").CRLF()
	// Sent whether or not CONDSTORE is enabled: modseqs are always kept,
	// and the value does not depend on the client: it is the one RFC 7162
	// 3.1.2.1 requires once CONDSTORE is enabled.
	s.Untagged().Raw("OK [HIGHESTMODSEQ ").Number64(uint64(mb.HighestModSeq)).Raw("] Highest").CRLF()
	s.Untagged().Raw("OK [MAILBOXID (").Raw(MailboxObjectID(mb)).Raw(")] Ok").CRLF() // RFC 8474 4.1
	if s.srv.hasAccessKeys() {
		// RFC 4467 3: the URLAUTH mechanisms available for the mailbox.
		s.Untagged().Raw("OK [URLMECH INTERNAL] URLAUTH mechanisms").CRLF()
	}
	if s.Rev2() {
		s.Untagged().Raw("LIST () \"/\" ").Mailbox(s.selectedName(mb.Name)).CRLF() // RFC 9051 6.3.2
	}
	if qr != nil && qr.uidValidity == mb.UIDValidity {
		if err := s.qresyncSelect(v, qr); err != nil {
			return err
		}
	}

	s.view, s.box, selected = v, box, true
	s.selected.Store(&selectedMailbox{user: s.user, id: mb.ID})
	s.state = StateSelected
	if readOnly {
		c.Code = "READ-ONLY"
	} else {
		c.Code = "READ-WRITE"
	}
	return s.enc.Err()
}

// MailboxObjectID is a mailbox's RFC 8474 MAILBOXID: its replicated id,
// the same on every replica and kept by RENAME (RFC 8474 4.1). A backend
// without replicated ids falls back to "M" and the local id.
func MailboxObjectID(mb store.MailboxInfo) string {
	if mb.GUID != "" {
		return mb.GUID
	}
	return "M" + strconv.FormatInt(int64(mb.ID), 10)
}

// readQresyncParam reads
//
//	"(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")"
//
// checking everything before the mailbox is opened (RFC 7162 3.2.5: a
// syntax error is a BAD and nothing is selected).
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
			if m, err = d.Number64(); err == nil && m == 0 {
				err = Bad("", "QRESYNC mod-sequence must be positive")
			}
			p.modSeq = store.ModSeq(m)
		case 2, 3:
			if c, perr := d.Peek(); perr == nil && c == '(' {
				err = readSeqMatch(d, &p)
				n = 3 // nothing may follow seq-match-data
			} else if n == 2 {
				var set wire.SeqSet
				if set, err = d.SeqSet(); err == nil {
					if set.HasStar() || set.Saved {
						return Bad("", "QRESYNC known-uids may not use * or $")
					}
					p.knownUIDs = set.Resolve(0)
				}
			} else {
				err = Bad("", "QRESYNC seq-match-data must be a list")
			}
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

// readSeqMatch reads seq-match-data: "(" known-sequence-set SP
// known-uid-set ")" (RFC 7162 3.2.5.2).
func readSeqMatch(d *wire.Decoder, p *qresyncParams) error {
	var sets []wire.SeqSet
	err := d.List(func() error {
		if len(sets) == 2 {
			return Bad("", "QRESYNC seq-match-data has two sets")
		}
		set, err := d.SeqSet()
		sets = append(sets, set)
		return err
	})
	if err != nil {
		return err
	}
	if len(sets) != 2 {
		return Bad("", "QRESYNC seq-match-data has two sets")
	}
	if p.match, err = view.NewSeqMatch(sets[0], sets[1]); err != nil {
		return Bad("", "QRESYNC seq-match-data: sets must be ascending, without *, of equal size")
	}
	return nil
}

// qresyncSelect tells a reconnecting client what changed since its modseq,
// before the tagged OK (RFC 7162 3.2.5.1): VANISHED (EARLIER) for expunges,
// then FETCH (UID FLAGS MODSEQ) for changed messages. v is fresh, at the
// modseq SELECT reported as HIGHESTMODSEQ; the store may already be further,
// and what lies beyond v's modseq is left for the first sync point, so that
// the two never report the same change twice nor contradict EXISTS.
//
// The cost is the store's two index range scans over the changes plus one
// binary search in v per change: nothing here visits the whole mailbox,
// except the missing-UID scan the store does when history before the
// client's modseq was pruned.
func (s *Session) qresyncSelect(v *view.View, qr *qresyncParams) error {
	if qr.modSeq >= v.ShownModSeq() {
		return nil // the client is up to date (modseqs never go back)
	}
	ch, err := s.boxAcct().ChangesSince(s.ctx(), v.Mailbox.ID, qr.modSeq)
	if err != nil {
		return err
	}
	if vanished := v.EarlierVanished(ch, qr.knownUIDs, qr.match); !vanished.Empty() {
		s.Untagged().Raw("VANISHED (EARLIER) ").UIDSet(vanished).CRLF()
	}
	for _, u := range v.ResyncFetches(ch, qr.knownUIDs) {
		s.WriteFetchFlags(u.Seq, u.Msg)
	}
	return nil
}
