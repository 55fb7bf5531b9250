package server

import (
	"strings"

	"github.com/tidemark-mail/tidemark/internal/acl"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/view"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// Untagged starts an untagged response ("* ") and returns the encoder to
// continue it; the response ends with CRLF and goes out with the tagged
// response (or an explicit Flush). Command files write everything through
// it, including literals streamed from blobs (Encoder.Literal).
func (s *Session) Untagged() *wire.Encoder { return s.enc.Raw("* ") }

// Enc returns the response encoder, for continuing a response.
func (s *Session) Enc() *wire.Encoder { return s.enc }

// continuation writes a continuation request ("+ text") and flushes it.
func (s *Session) continuation(text string) error {
	return s.enc.Raw("+ ").Text(text).CRLF().Flush()
}

// Account is the logged-in user's store.
func (s *Session) Account() store.Account { return s.acct }

// View is the selected mailbox, nil outside the selected state.
func (s *Session) View() *view.View { return s.view }

// Enabled reports whether the client ENABLEd ext ("CONDSTORE", "QRESYNC",
// "IMAP4REV2", "UTF8=ACCEPT"), or enabled CONDSTORE implicitly.
func (s *Session) Enabled(ext string) bool { return s.enabled[strings.ToUpper(ext)] }

// EnableCondstore records CONDSTORE as enabled because the client used a
// CONDSTORE-enabling command (RFC 7162 3.1: STATUS (HIGHESTMODSEQ), FETCH
// MODSEQ, CHANGEDSINCE, UNCHANGEDSINCE, SEARCH MODSEQ; ENABLE and SELECT
// (CONDSTORE) have their own paths). Commands call it while parsing, before
// writing any response of their own.
//
// RFC 7162 3.1: the first CONDSTORE-enabling command of a session that runs
// with a mailbox selected makes the server report HIGHESTMODSEQ for it, as
// "* OK [HIGHESTMODSEQ n]" (Example 5). The value is the view's SafeModSeq:
// the client has been told every change up to it, so it may cache it.
func (s *Session) EnableCondstore() {
	if s.enabled["CONDSTORE"] {
		return
	}
	s.enabled["CONDSTORE"] = true
	s.announceHighestModSeq()
}

// announceHighestModSeq writes "* OK [HIGHESTMODSEQ n]" for the selected
// mailbox, if any, when CONDSTORE has just become enabled.
func (s *Session) announceHighestModSeq() {
	if s.view == nil {
		return
	}
	s.Untagged().Raw("OK [HIGHESTMODSEQ ").Number64(uint64(s.view.SafeModSeq())).Raw("] Highest").CRLF()
}

// Rev2 reports whether the client speaks IMAP4rev2 (RFC 9051) rather
// than IMAP4rev1.
func (s *Session) Rev2() bool { return s.enabled["IMAP4REV2"] }

// SeqSetUIDs resolves a set from the client, sequence numbers unless uid,
// against the selected mailbox.
func (s *Session) SeqSetUIDs(set wire.SeqSet, uid bool) (store.UIDSet, error) {
	if set.Saved {
		return s.savedSearchUIDs(), nil // RFC 5182
	}
	if uid {
		return s.view.UIDSetUIDs(set), nil
	}
	return s.view.SeqSetUIDs(set)
}

// sync is the sync point: it brings the selected view up to date with the
// store and writes what changed (unflushed). allowExpunge follows the
// command table (RFC 9051 7.4.1).
func (s *Session) sync(allowExpunge bool) error {
	if s.urlmechDue.Swap(false) && s.view != nil {
		s.Untagged().Raw("OK [URLMECH INTERNAL] Access key reset").CRLF() // RFC 4467 6.1
	}
	if s.view == nil {
		return s.reportMetadataChanges(0, 0, 0)
	}
	if !s.selectedRights().Has(acl.Read) {
		return nil // no longer readable (shared.go)
	}
	// Under UIDONLY expunges are VANISHED too (RFC 9586 3).
	opts := view.SyncOptions{AllowExpunge: allowExpunge, QResync: s.Enabled("QRESYNC") || s.uidOnly()}
	prevHigh := s.view.HighestUID()
	var ups []view.Update
	// The shared Box learns of every commit through the Hub and keeps the
	// recent batches of changes, so a session that is up to date or a few
	// commits behind catches up from memory; one further behind, or whose
	// Box could not refresh, asks the store. Held expunges may be due
	// either way.
	served := false
	var ch store.Changes
	if err := s.box.Sync(s.ctx()); err == nil {
		ch, served = s.box.ChangesSince(s.view.ShownModSeq())
	}
	if !served {
		var err error
		if ch, err = s.boxAcct().ChangesSince(s.ctx(), s.view.Mailbox.ID, s.view.ShownModSeq()); err != nil {
			return mailboxGone(err)
		}
	}
	if ch.Mailbox.UIDValidity != 0 && ch.Mailbox.UIDValidity != s.view.Mailbox.UIDValidity {
		// The mailbox took another identity under the session (a replica
		// adopting its peer's INBOX at first contact): every UID the
		// client holds is void, and no response can say so to a client
		// that keeps the mailbox selected (RFC 9051 2.3.1.1), so the
		// connection ends, as when the mailbox is deleted.
		return &wire.Error{Text: "Selected mailbox's UIDVALIDITY changed", Close: true}
	}
	before := s.view.ShownModSeq()
	ups = s.view.Apply(ch, opts)
	s.writeUpdates(ups)
	if err := s.reportMetadataChanges(s.view.Mailbox.ID, before, ch.Mailbox.HighestModSeq); err != nil {
		return err
	}
	if len(s.contexts) > 0 {
		s.updateContexts() // RFC 5267 4.3 (context.go)
	}
	if err := s.notifyNewMessages(prevHigh); err != nil { // NOTIFY MessageNew (RFC 5465 5.2)
		return err
	}
	if s.view.Holding() && s.Enabled("CONDSTORE") {
		// RFC 7162 3.2 and the example in 6: the client takes the highest
		// MODSEQ it saw in FETCH responses as its new HIGHESTMODSEQ unless
		// the server sends one; while expunges are held that could run
		// ahead of them, so say how far the client is really up to date.
		s.Untagged().Raw("OK [HIGHESTMODSEQ ").Number64(uint64(s.view.SafeModSeq())).Raw("] Expunges not yet reported").CRLF()
	}
	return s.enc.Err()
}

// writeUpdates writes a sync's updates as untagged responses.
func (s *Session) writeUpdates(ups []view.Update) {
	for _, u := range ups {
		switch u.Kind {
		case view.UpdateExpunge:
			if len(s.contexts) > 0 {
				s.contextsExpunge(u.Seq, u.UID) // RFC 5267 4.3.4: before the EXPUNGE
			}
			s.Untagged().Number(u.Seq).Raw(" EXPUNGE").CRLF()
		case view.UpdateVanished:
			s.Untagged().Raw("VANISHED ").UIDSet(u.UIDs).CRLF()
		case view.UpdateFlagList:
			s.writeFlagList(u.Keywords)
		case view.UpdateExists:
			s.Untagged().Number(u.Count).Raw(" EXISTS").CRLF()
			s.syncRecent()
		case view.UpdateFetch:
			if s.notify != nil && s.notify.hideFlags {
				continue // NOTIFY without FlagChange (RFC 5465 5.1)
			}
			s.WriteFetchFlags(u.Seq, u.Msg)
		}
	}
}

// WriteFetchFlags writes "* n FETCH (FLAGS (...))" for a flag change. Once
// CONDSTORE is enabled every such FETCH carries MODSEQ (RFC 7162 3.1, 3.1.3)
// and, because Tidemark also implements QRESYNC, UID (RFC 7162 3.2.4; Example
// 14's note in 3.1.4.2).
func (s *Session) WriteFetchFlags(seq uint32, m store.MessageState) {
	e := s.fetchStart(seq, uint32(m.UID))
	if s.Enabled("CONDSTORE") && !s.uidOnly() {
		e.Raw("UID ").Number(uint32(m.UID)).SP()
	}
	e.Raw("FLAGS ").FlagsRecent(m.Flags, s.isRecent(m.UID))
	if s.Enabled("CONDSTORE") {
		e.Raw(" MODSEQ (").Number64(uint64(m.ModSeq)).Special(')')
	}
	e.Special(')').CRLF()
}

// writeFlagList writes FLAGS and PERMANENTFLAGS for the selected mailbox:
// the system flags plus its keywords; any keyword may be created (\*)
// unless the mailbox is read-only.
func (s *Session) writeFlagList(keywords []string) {
	names := append(wire.SystemFlagNames(), keywords...)
	s.Untagged().Raw("FLAGS ").List(len(names), func(i int) { s.enc.Raw(names[i]) }).CRLF()
	if s.view != nil && s.view.ReadOnly {
		s.Untagged().Raw("OK [PERMANENTFLAGS ()] No permanent flags permitted").CRLF()
		return
	}
	star := 1 // \* : new keywords may be stored
	if r := s.selectedRights(); r != acl.All {
		names = permittedFlags(names, r)
		if !r.Has(acl.Write) {
			star = 0
		}
	}
	s.Untagged().Raw("OK [PERMANENTFLAGS ").List(len(names)+star, func(i int) {
		if i == len(names) {
			s.enc.Raw(`\*`)
		} else {
			s.enc.Raw(names[i])
		}
	}).Raw("] Flags permitted").CRLF()
}

// ReadMailbox reads a mailbox name argument and converts it to the
// store's UTF-8 form: IMAP4rev1 clients without UTF8=ACCEPT send modified
// UTF-7 (RFC 3501 5.1.3).
func (s *Session) ReadMailbox(d *wire.Decoder) (string, error) {
	name, err := d.Mailbox()
	if err != nil {
		return "", err
	}
	if s.enc.UTF8 {
		return name, nil
	}
	u, err := wire.DecodeMUTF7(name)
	if err != nil {
		return "", errNameNotMUTF7
	}
	return u, nil
}

// errNameNotMUTF7 answers a mailbox name that is not valid modified UTF-7
// (an "&" not followed by a valid encoding, RFC 3501 5.1.3): no mailbox
// can have such a name, so the commands that look a mailbox up answer NO
// as for any missing mailbox; CREATE and RENAME refuse it with
// errCannotCreateName instead, and LIST treats such a pattern as matching
// nothing.
var errNameNotMUTF7 = No("NONEXISTENT", "No such mailbox: the name is not valid modified UTF-7")

// errCannotCreateName is CREATE's and RENAME's answer to a new name that is
// not valid modified UTF-7.
var errCannotCreateName = No("CANNOT", "Mailbox name is not valid modified UTF-7 (RFC 3501 5.1.3)")
