package server

import (
	"github.com/tidemark-mail/tidemark/internal/acl"
	"slices"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// STATUS (RFC 9051 6.3.11) with SIZE and DELETED (IMAP4rev2, STATUS=SIZE
// of RFC 8438), HIGHESTMODSEQ (RFC 7162 3.1.7), APPENDLIMIT (RFC 7889),
// MAILBOXID (RFC 8474 4.2), DELETED-STORAGE (RFC 9208 4.1.4, with QUOTA)
// and IMAP4rev1's RECENT.
//
// Every counter comes from store.Account.Status, which the store keeps
// exact in the transactions that change a mailbox: no message is read.
// DELETED-STORAGE is the exception: it adds up the RFC822.SIZE of the
// \Deleted messages (what an EXPUNGE would take off the STORAGE usage),
// reading the mailbox's flags and those messages' rows, and only when the
// mailbox has \Deleted messages at all.
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
	"APPENDLIMIT": true, "MAILBOXID": true, "DELETED-STORAGE": true,
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
	items, err := s.readStatusItems(d)
	if err != nil {
		return err
	}
	if err := c.End(); err != nil {
		return err
	}
	ref, err := s.resolve(name)
	if err != nil {
		return err
	}
	if err := ref.need(acl.Read); err != nil { // RFC 4314 4
		return err
	}
	st, err := s.statusOf(ref, items)
	if err != nil {
		return err
	}
	s.noteStatusItems(items)
	s.writeStatus(st.name, st, items)
	return s.enc.Err()
}

// statusValues is a mailbox's status with what STATUS computes beyond the
// store's counters.
type statusValues struct {
	store.MailboxStatus
	deletedStorage int64 // DELETED-STORAGE, in units of 1024 octets
	name           string
	shared         bool // another user's mailbox: \Recent is the owner's
}

// status reads what items need of the user's mailbox id.
func (s *Session) status(id store.MailboxID, items []string) (statusValues, error) {
	return s.statusIn(s.acct, id, items)
}

// statusOf reads what items need of a mailbox a name resolved to.
func (s *Session) statusOf(ref *mailboxRef, items []string) (statusValues, error) {
	v, err := s.statusIn(ref.acct, ref.info.ID, items)
	if ref.isShared(s) {
		v.name, v.shared = sharedName(ref.owner, v.Name), true
	}
	return v, err
}

func (s *Session) statusIn(acct store.Account, id store.MailboxID, items []string) (statusValues, error) {
	st, err := acct.Status(s.ctx(), id)
	if err != nil {
		return statusValues{}, err
	}
	v := statusValues{MailboxStatus: st, name: st.Name}
	if st.Deleted > 0 && slices.Contains(items, "DELETED-STORAGE") {
		if v.deletedStorage, err = s.deletedStorage(acct, id); err != nil {
			return statusValues{}, err
		}
	}
	return v, nil
}

// deletedStorage is the sum of the RFC822.SIZE of the \Deleted messages
// of mailbox id, in the STORAGE resource's units of 1024 octets (RFC 9208
// 5.1), rounded up like the usage GETQUOTA reports.
func (s *Session) deletedStorage(acct store.Account, id store.MailboxID) (int64, error) {
	ctx := s.ctx()
	snap, err := acct.Snapshot(ctx, id)
	if err != nil {
		return 0, err
	}
	var deleted store.UIDSet
	for _, m := range snap.Messages {
		if m.Flags.System&store.FlagDeleted != 0 {
			deleted.Add(m.UID)
		}
	}
	var bytes int64
	if len(deleted) > 0 {
		err = acct.Messages(ctx, id, deleted, func(m *store.MessageData) error {
			bytes += m.Size
			return nil
		})
	}
	return (bytes + 1023) / 1024, err
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
// RECENT is IMAP4rev1's only: RFC 9051 removed it from status-att.
func (s *Session) readStatusItems(d *wire.Decoder) ([]string, error) {
	var items []string
	err := d.List(func() error {
		a, err := d.Atom()
		if err != nil {
			return err
		}
		a = strings.ToUpper(a)
		if !statusItemNames[a] || a == "RECENT" && s.Rev2() {
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
func (s *Session) writeStatus(name string, st statusValues, items []string) {
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
		case "DELETED-STORAGE":
			e.Number64(uint64(st.deletedStorage))
		case "RECENT":
			if st.shared {
				e.Number(0)
			} else {
				e.Number(s.statusRecent(st.ID))
			}
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
