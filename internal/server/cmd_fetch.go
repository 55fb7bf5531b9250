package server

import (
	"errors"
	"fmt"
	"github.com/tidemark-mail/tidemark/internal/acl"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// FETCH and UID FETCH (RFC 9051 6.4.5, 6.4.9), with BINARY (RFC 3516),
// the CHANGEDSINCE and VANISHED modifiers and the MODSEQ item (RFC 7162
// 3.1.4, 3.2.6), EMAILID and THREADID (RFC 8474 5), SAVEDATE (RFC 8514)
// and PREVIEW (RFC 8970, fetch_preview.go).
//
// A FETCH runs in this order: parse the whole command; resolve the set
// against the view; under CHANGEDSINCE, narrow the set to the messages
// changed since (one range scan) and send VANISHED (EARLIER) first; set
// \Seen with one store call for the whole set if a non-PEEK body item
// asks for it; then stream the messages, one response each. Setting
// \Seen first means the FLAGS sent with the message already carry it, as
// RFC 9051 6.4.5 wants, and the change is marked as reported so the sync
// point does not repeat it.
//
// Messages expunged by another session but not yet reported are simply
// omitted (the store no longer has them; see package view).
func init() {
	register(
		&Command{Name: "FETCH", States: StateSelected, UsesSeqs: true, Run: runFetch},
		&Command{Name: "FETCH", UID: true, States: StateSelected, Run: runFetch},
	)
	addCapability("BINARY", nil)
	addCapability("OBJECTID", nil)
	addCapability("SAVEDATE", nil)
}

// fetcher writes the responses of one FETCH command.
type fetcher struct {
	s   *Session
	req *fetchRequest
	// uid is set for UID FETCH: every response carries UID (RFC 9051
	// 6.4.9).
	uid bool
	// condstore is set when CONDSTORE is enabled for the session.
	condstore bool
	// seen holds the messages whose \Seen this command set.
	seen store.UIDSet
	// progress reports on a long FETCH (RFC 9585); nil for a short one.
	progress *progress
}

func runFetch(s *Session, c *Cmd) error {
	req, err := readFetch(c.Dec, c.def.UID)
	if err != nil {
		return err
	}
	if err := c.End(); err != nil {
		return err
	}
	if req.vanished && !s.Enabled("QRESYNC") {
		return Bad("", "VANISHED needs QRESYNC enabled") // RFC 7162 3.2.6
	}
	uids, err := s.SeqSetUIDs(req.set, c.def.UID)
	if err != nil {
		return err
	}
	if req.partial != nil {
		// RFC 9394 3.3, 3.4: the window of the set's messages first,
		// CHANGEDSINCE within it.
		list := s.uidsIn(uids)
		from, to := req.partial.window(len(list))
		uids = nil
		for _, u := range list[from:to] {
			uids.Add(u)
		}
	}
	if req.wants(fetchModSeq) || req.changedSince > 0 {
		s.EnableCondstore() // RFC 7162 3.1
	}
	f := &fetcher{s: s, req: req, uid: c.def.UID, condstore: s.Enabled("CONDSTORE")}
	ctx := s.ctx()
	v := s.view

	var changed []store.MessageState
	if req.changedSince > 0 {
		ch, err := s.boxAcct().ChangesSince(ctx, v.Mailbox.ID, req.changedSince)
		if err != nil {
			return err
		}
		if s.box != nil {
			s.box.Saw(ch.Mailbox.HighestModSeq) // what follows must not go back
		}
		if req.vanished {
			// RFC 7162 3.2.6: the expunged UIDs of the requested set come
			// first. "*" reaches the last UID ever given, so that
			// expunges at the end of the mailbox are reported too.
			hi := max(v.HighestUID(), ch.Mailbox.UIDNext-1)
			if gone := intersectUIDs(ch.Vanished, req.set.UIDSet(hi)); !gone.Empty() {
				s.Untagged().Raw("VANISHED (EARLIER) ").UIDSet(gone).CRLF()
			}
		}
		// RFC 7162 3.1.4.1: only messages whose modseq is greater.
		var narrowed store.UIDSet
		for _, m := range ch.Changed {
			if uids.Contains(m.UID) {
				narrowed.Add(m.UID)
				changed = append(changed, m)
			}
		}
		uids = narrowed
	}

	if req.changedSince > 0 {
		f.progress = s.startProgress(uint64(len(changed)))
	} else {
		f.progress = s.startProgress(uint64(v.CountIn(uids)))
	}
	if req.onlyStates() {
		if req.changedSince > 0 {
			for _, m := range changed {
				if err := f.writeState(m); err != nil {
					return err
				}
			}
			return s.enc.Err()
		}
		if err := s.fetchStates(ctx, uids, f.writeState); err != nil {
			return err
		}
		return s.enc.Err()
	}

	// RFC 4314 4: without "s" a FETCH does not set \Seen.
	if req.setsSeen() && !v.ReadOnly && !uids.Empty() && s.selectedRights().Has(acl.Seen) {
		res, err := s.boxAcct().SetFlags(ctx, v.Mailbox.ID, uids, store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0)
		if err != nil {
			return err
		}
		for _, m := range res.Changed {
			f.seen.Add(m.UID)
		}
	}
	err = s.boxAcct().ReadMessages(ctx, v.Mailbox.ID, uids, req.fields(), f.writeMessage)
	if err != nil {
		return err
	}
	return s.enc.Err()
}

// intersectUIDs returns the UIDs in both sets.
func intersectUIDs(a, b store.UIDSet) store.UIDSet {
	var out store.UIDSet
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		lo, hi := max(a[i].Start, b[j].Start), min(a[i].Stop, b[j].Stop)
		if lo <= hi {
			out.AddRange(lo, hi)
		}
		if a[i].Stop < b[j].Stop {
			i++
		} else {
			j++
		}
	}
	return out
}

// writeState answers a FETCH of UID, FLAGS and MODSEQ only.
func (f *fetcher) writeState(m store.MessageState) error {
	if err := f.progress.step(); err != nil {
		return err
	}
	seq, ok := f.s.view.Seq(m.UID)
	if !ok {
		return nil
	}
	e := f.s.fetchStart(seq, uint32(m.UID))
	sep, flags, modseq := false, false, false
	if f.uid && !f.s.uidOnly() || f.req.wants(fetchUID) {
		e.Raw("UID ").Number(uint32(m.UID))
		sep = true
	}
	if f.req.changedSince > 0 && !f.req.wants(fetchModSeq) {
		sep = writeSep(e, sep)
		e.Raw("MODSEQ (").Number64(uint64(m.ModSeq)).Special(')')
		modseq = true
	}
	for _, it := range f.req.items {
		switch it.kind {
		case fetchFlags:
			sep = writeSep(e, sep)
			e.Raw("FLAGS ").FlagsRecent(m.Flags, f.s.isRecent(m.UID))
			flags = true
		case fetchModSeq:
			sep = writeSep(e, sep)
			e.Raw("MODSEQ (").Number64(uint64(m.ModSeq)).Special(')')
			modseq = true
		}
	}
	e.Special(')').CRLF()
	f.markReported(m, flags, modseq)
	return e.Err()
}

// writeSep writes the space between two items when one came before.
func writeSep(e *wire.Encoder, sep bool) bool {
	if sep {
		e.SP()
	}
	return true
}

// markReported tells the view that the client now knows a message's flag
// state, so the sync point does not send it again. Under CONDSTORE that
// holds only if MODSEQ went with the FLAGS (RFC 7162 3.1.4.2: unsolicited
// flag changes carry MODSEQ).
func (f *fetcher) markReported(m store.MessageState, flags, modseq bool) {
	if flags && (modseq || !f.condstore) {
		f.s.view.MarkReported(m.UID, m.ModSeq)
	}
}

// writeMessage writes the FETCH response of one message with any data
// items.
func (f *fetcher) writeMessage(m *store.MessageData) error {
	s := f.s
	if err := f.progress.step(); err != nil {
		return err
	}
	seq, ok := s.view.Seq(m.UID)
	if !ok {
		return nil
	}
	if s.box != nil {
		s.box.Saw(m.ModSeq) // read from the store: see Box.Saw
	}
	st := m.Structure
	if st == nil && f.req.fields()&(store.FieldEnvelope|store.FieldStructure) != 0 {
		return fmt.Errorf("fetch: message %d has no structure", m.UID)
	}
	// RFC 3516 4.3: an encoding that cannot be undone fails the command;
	// check before anything of this message is written.
	for _, it := range f.req.items {
		if it.kind == fetchBinary || it.kind == fetchBinarySize {
			if _, err := message.BinarySize(st, it.spec.Part); errors.Is(err, message.ErrUnknownEncoding) {
				return No("UNKNOWN-CTE", fmt.Sprintf("Cannot decode the transfer encoding of part %s of message %d",
					partText(it.spec.Part), seq))
			}
		}
	}
	var blob store.Blob
	openBlob := func() (store.Blob, error) {
		if blob == nil && m.Body != nil {
			blob = m.Body // read with the message's row
		}
		if blob == nil {
			b, err := s.boxAcct().OpenBlob(s.ctx(), m.BlobID)
			if err != nil {
				return nil, fmt.Errorf("fetch: message %d: %w", m.UID, err)
			}
			blob = b
		}
		return blob, nil
	}
	defer func() {
		if blob != nil {
			blob.Close()
		}
	}()
	if f.req.needsBlob() {
		if _, err := openBlob(); err != nil {
			return err
		}
	}
	var preview string
	if f.req.wants(fetchPreview) {
		// Before the response starts: a failure fails the command cleanly.
		p, err := f.preview(m, openBlob)
		if err != nil {
			return fmt.Errorf("fetch: message %d: %w", m.UID, err)
		}
		preview = p
	}

	// RFC 9051 6.4.5 (\Seen set by this FETCH is reported with the
	// message) and RFC 7162 3.2.4 (under CONDSTORE such a response also
	// carries UID and MODSEQ).
	seenNow := f.seen.Contains(m.UID)
	e := s.fetchStart(seq, uint32(m.UID))
	sep, flags, modseq := false, false, false
	if (f.uid || seenNow && f.condstore) && !s.uidOnly() || f.req.wants(fetchUID) {
		e.Raw("UID ").Number(uint32(m.UID))
		sep = true
	}
	if !f.req.wants(fetchModSeq) && (f.req.changedSince > 0 || (seenNow && f.condstore)) {
		sep = writeSep(e, sep)
		e.Raw("MODSEQ (").Number64(uint64(m.ModSeq)).Special(')')
		modseq = true
	}
	for i := range f.req.items {
		it := &f.req.items[i]
		if it.kind == fetchUID {
			continue
		}
		sep = writeSep(e, sep)
		switch it.kind {
		case fetchFlags:
			e.Raw("FLAGS ").FlagsRecent(m.Flags, s.isRecent(m.UID))
			flags = true
		case fetchModSeq:
			e.Raw("MODSEQ (").Number64(uint64(m.ModSeq)).Special(')')
			modseq = true
		case fetchInternalDate:
			e.Raw("INTERNALDATE ").DateTime(m.InternalDate)
		case fetchSize:
			e.Raw("RFC822.SIZE ").Number64(uint64(m.Size))
		case fetchSaveDate:
			// RFC 8514 4: NIL when the date is not known.
			e.Raw("SAVEDATE ")
			if m.SaveDate.IsZero() || m.SaveDate.Unix() == 0 {
				e.NIL()
			} else {
				e.DateTime(m.SaveDate)
			}
		case fetchEmailID:
			e.Raw("EMAILID (").Raw(m.EmailID).Special(')')
		case fetchThreadID:
			// RFC 8474 5.2: NIL for a message that belongs to no thread.
			e.Raw("THREADID ")
			if m.ThreadID == "" {
				e.NIL()
			} else {
				e.Special('(').Raw(m.ThreadID).Special(')')
			}
		case fetchEnvelope:
			e.Raw("ENVELOPE ")
			writeEnvelope(e, &st.Envelope)
		case fetchBody, fetchBodyStructure:
			e.Raw(it.name).SP()
			writeStructure(e, st, it.kind == fetchBodyStructure)
		case fetchSection:
			if err := writeSection(e, it, st, blob, m.Size); err != nil {
				return fmt.Errorf("fetch: message %d: %w", m.UID, err)
			}
		case fetchBinary:
			if err := writeBinary(e, it, st, blob); err != nil {
				return fmt.Errorf("fetch: message %d: %w", m.UID, err)
			}
		case fetchBinarySize:
			n, _ := message.BinarySize(st, it.spec.Part)
			e.Raw(it.name).SP().Number64(uint64(n))
		case fetchPreview:
			e.Raw("PREVIEW ").String(preview)
		}
	}
	if seenNow && !f.req.wants(fetchFlags) {
		sep = writeSep(e, sep)
		e.Raw("FLAGS ").FlagsRecent(m.Flags, s.isRecent(m.UID))
		flags = true
	}
	e.Special(')').CRLF()
	f.markReported(m.MessageState, flags, modseq)
	return e.Err()
}
