package server

import (
	"errors"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Unsolicited METADATA (RFC 5464 4.1, 4.4, 4.4.2): after ENABLE METADATA a
// session is told, in "* METADATA mailbox entry..." responses without
// values, when another session or process changes the entries of the
// mailbox it has selected or of the server. Mailbox entries are checked at
// each sync point where the selected mailbox's HIGHESTMODSEQ moved (a
// change of entries takes a modseq of the mailbox, so IDLE wakes for it
// too); server entries at each sync point, by one read of their latest
// modseq (a change of them does not wake IDLE). Changes the session made
// itself are not reported: they are known by the modseq SETMETADATA took.
// Other mailboxes are NOTIFY's business (MailboxMetadataChange); while
// NOTIFY is in force it alone reports metadata, so nothing is said twice.

// metadataWatch is the state of unsolicited METADATA for one session.
type metadataWatch struct {
	// seen is, per mailbox (store.ServerMetadata for the server), the
	// modseq up to which changes have been considered.
	seen map[store.MailboxID]store.ModSeq
	// own are the changes this session made itself, not to be reported.
	own map[metadataChange]bool
	// selected is the mailbox last seen selected: one selected anew
	// starts from its state at SELECT.
	selected store.MailboxID
}

type metadataChange struct {
	id store.MailboxID
	ms store.ModSeq
}

// startMetadataWatch turns unsolicited METADATA on (ENABLE METADATA): what
// exists now is the baseline.
func (s *Session) startMetadataWatch() error {
	md, err := s.openMetadata()
	if err != nil {
		return err
	}
	defer md.Close()
	high, err := md.ServerMetadataModSeq(s.ctx())
	if err != nil {
		return err
	}
	s.metaWatch = &metadataWatch{
		seen: map[store.MailboxID]store.ModSeq{store.ServerMetadata: high},
		own:  map[metadataChange]bool{},
	}
	if s.view != nil {
		s.metaWatch.selected = s.view.Mailbox.ID
		s.metaWatch.seen[s.view.Mailbox.ID] = s.view.ShownModSeq()
	}
	return nil
}

// reportMetadataChanges writes the unsolicited METADATA responses due:
// for the server, and for the selected mailbox (id, whose entries were
// last considered at from when the session has not seen the mailbox yet,
// and which is now at high; 0 when none is selected).
func (s *Session) reportMetadataChanges(id store.MailboxID, from, high store.ModSeq) error {
	w := s.metaWatch
	if w == nil || s.notify != nil {
		return nil
	}
	md, err := s.openMetadata()
	if err != nil {
		return err
	}
	defer md.Close()
	serverHigh, err := md.ServerMetadataModSeq(s.ctx())
	if err != nil {
		return err
	}
	if err := s.reportEntries(md, store.ServerMetadata, "", serverHigh); err != nil {
		return err
	}
	if id == 0 || s.shared != nil {
		// Another user's mailbox: its entries are that user's and are
		// not watched here.
		return nil
	}
	if id != w.selected {
		w.selected, w.seen[id] = id, from
	}
	return s.reportEntries(md, id, s.view.Mailbox.Name, high)
}

// reportEntries reports the entries of id (named name) changed by others
// since the watch last looked, if its modseq moved past that point.
func (s *Session) reportEntries(md store.Metadata, id store.MailboxID, name string, high store.ModSeq) error {
	w := s.metaWatch
	since := w.seen[id]
	if high <= since {
		return nil
	}
	es, err := md.MetadataChangedSince(s.ctx(), id, since)
	if errors.Is(err, store.ErrNoMailbox) {
		return nil // deleted meanwhile: the sync says so
	}
	if err != nil {
		return err
	}
	var names []string
	for _, e := range es {
		if !w.own[metadataChange{id, e.ModSeq}] {
			names = append(names, e.Name)
		}
		high = max(high, e.ModSeq)
	}
	w.seen[id] = high
	for c := range w.own {
		if c.id == id && c.ms <= high {
			delete(w.own, c)
		}
	}
	if len(names) > 0 {
		// RFC 5464 4.4.2: entry names only.
		e := s.Untagged().Raw("METADATA ").Mailbox(name)
		for _, n := range names {
			e.SP().Astring(n)
		}
		e.CRLF()
	}
	return nil
}
