package server

import (
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// STATUS (RFC 9051 6.3.11) with SIZE and DELETED (IMAP4rev2, STATUS=SIZE
// of RFC 8438), HIGHESTMODSEQ (RFC 7162 3.1.7), APPENDLIMIT (RFC 7889),
// MAILBOXID (RFC 8474 4.2) and IMAP4rev1's RECENT.
//
// Every counter comes from store.Account.Status, which the store keeps
// exact in the transactions that change a mailbox: no message is read.
// STATUS of the selected mailbox is allowed; it reads the store and
// leaves the session's view alone, so the client learns of changes only
// at the sync point, as usual (RFC 9051 6.3.11 notes the numbers may then
// differ from what the session has been told).
func init() {
	register(&Command{Name: "STATUS", States: authenticated, Run: runStatus})
	addCapability("STATUS=SIZE", nil)
}

// statusItemNames are the accepted status data items.
var statusItemNames = map[string]bool{
	"MESSAGES": true, "UIDNEXT": true, "UIDVALIDITY": true, "UNSEEN": true,
	"DELETED": true, "SIZE": true, "RECENT": true, "HIGHESTMODSEQ": true,
	"APPENDLIMIT": true, "MAILBOXID": true,
}

func runStatus(s *Session, c *Cmd) error {
	d := c.Dec
	if err := d.SP(); err != nil {
		return err
	}
	name, err := s.ReadMailbox(d)
	if err != nil {
		return err
	}
	if err := d.SP(); err != nil {
		return err
	}
	items, err := readStatusItems(d)
	if err != nil {
		return err
	}
	if err := c.End(); err != nil {
		return err
	}
	ctx := s.ctx()
	info, err := s.acct.Mailbox(ctx, name)
	if err != nil {
		return err
	}
	st, err := s.acct.Status(ctx, info.ID)
	if err != nil {
		return err
	}
	s.noteStatusItems(items)
	s.writeStatus(st.Name, st, items)
	return s.enc.Err()
}

// noteStatusItems applies what asking for items implies: STATUS
// (HIGHESTMODSEQ) is a CONDSTORE enabling command (RFC 7162 3.1);
// EnableCondstore reports the selected mailbox's HIGHESTMODSEQ the first
// time.
func (s *Session) noteStatusItems(items []string) {
	for _, it := range items {
		if it == "HIGHESTMODSEQ" {
			s.EnableCondstore()
		}
	}
}

// readStatusItems reads "(" status-att *(SP status-att) ")", upper case.
func readStatusItems(d *wire.Decoder) ([]string, error) {
	var items []string
	err := d.List(func() error {
		a, err := d.Atom()
		if err != nil {
			return err
		}
		a = strings.ToUpper(a)
		if !statusItemNames[a] {
			return Bad("", "Unknown status item "+a)
		}
		items = append(items, a)
		return nil
	})
	if err == nil && len(items) == 0 {
		err = Bad("", "STATUS needs at least one item")
	}
	return items, err
}

// writeStatus writes "* STATUS name (item value ...)" in the order asked.
func (s *Session) writeStatus(name string, st store.MailboxStatus, items []string) {
	e := s.Untagged().Raw("STATUS ").Mailbox(name).Raw(" (")
	for i, it := range items {
		if i > 0 {
			e.SP()
		}
		e.Raw(it).SP()
		switch it {
		case "MESSAGES":
			e.Number(st.Messages)
		case "UIDNEXT":
			e.Number(uint32(st.UIDNext))
		case "UIDVALIDITY":
			e.Number(st.UIDValidity)
		case "UNSEEN":
			e.Number(st.Unseen)
		case "DELETED":
			e.Number(st.Deleted)
		case "SIZE":
			e.Number64(uint64(st.Size))
		case "RECENT":
			e.Number(0) // \Recent is not tracked (see SELECT)
		case "HIGHESTMODSEQ":
			e.Number64(uint64(st.HighestModSeq))
		case "APPENDLIMIT":
			e.Number64(uint64(s.appendLimit()))
		case "MAILBOXID":
			e.Special('(').Raw(MailboxObjectID(st.MailboxInfo)).Special(')')
		}
	}
	e.Special(')').CRLF()
}

// appendLimit is the largest message APPEND accepts (RFC 7889): the
// literal limit the decoder enforces.
func (s *Session) appendLimit() int64 { return s.srv.cfg.Limits.MaxAppendLiteral }
