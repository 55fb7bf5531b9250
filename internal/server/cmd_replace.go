package server

import (
	"errors"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/view"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// REPLACE and UID REPLACE (RFC 8508): a message of the selected mailbox
// is replaced by a new one, appended to the named mailbox (the same one,
// for the common case of a draft, or another), as one action. The store
// does both in one transaction (store.Replacer): the new message is
// appended and the old one expunged, leaving its tombstone, or neither.
//
// Responses (RFC 8508 3.2, 4.3): the APPENDUID code in an untagged OK
// first, then EXISTS and EXPUNGE (VANISHED under QRESYNC) from the sync
// point the command runs, as UID EXPUNGE would (RFC 8508 4.5), then the
// tagged OK, with HIGHESTMODSEQ under QRESYNC. Errors are APPEND's: NO
// [TRYCREATE] for a missing mailbox, [OVERQUOTA] judged on the net change
// (the new size less the old: RFC 8508 3.4), [TOOBIG] for the APPENDLIMIT,
// all before the client sends the message when its literal synchronizes;
// and NO for a message that is gone. Nothing is sent about the intermediate
// \Deleted state, which never exists.
func init() {
	register(
		&Command{Name: "REPLACE", States: StateSelected, UsesSeqs: true, Expunges: true, Run: runReplace},
		&Command{Name: "REPLACE", UID: true, States: StateSelected, Expunges: true, Run: runReplace},
	)
	addCapability("REPLACE", nil)
}

func runReplace(s *Session, c *Cmd) error {
	d := c.Dec
	var n uint32
	var name string
	err := d.SP()
	if err == nil {
		n, err = d.Number()
	}
	if err == nil {
		err = d.SP()
	}
	if err == nil {
		name, err = s.ReadMailbox(d)
	}
	if err != nil {
		return err
	}
	// Everything that can be refused is refused before the literal.
	v := s.view
	if v.ReadOnly {
		return errReadOnly() // the old message cannot be expunged
	}
	var uid store.UID
	if c.def.UID {
		uid = store.UID(n)
		if _, ok := v.Seq(uid); !ok || uid == 0 {
			return No("NONEXISTENT", "No message with that UID")
		}
	} else {
		var ok bool
		if uid, ok = v.UID(n); !ok {
			return view.ErrBadSeq
		}
	}
	if v.Expunged(uid) {
		return No("EXPUNGEISSUED", "The message was expunged")
	}
	rp, ok := s.acct.(store.Replacer)
	if !ok {
		return No("CANNOT", "REPLACE is not available")
	}
	dst, err := s.destination(name)
	if err != nil {
		return err
	}
	if s.shared != nil || dst.isShared(s) {
		// One transaction cannot span two users' stores.
		return No("CANNOT", "REPLACE works within your own mailboxes only")
	}
	var oldSize int64
	found := false
	if err := s.acct.Messages(s.ctx(), v.Mailbox.ID, store.UIDSet{{Start: uid, Stop: uid}}, func(m *store.MessageData) error {
		oldSize, found = m.Size, true
		return nil
	}); err != nil {
		return err
	}
	if !found {
		return No("EXPUNGEISSUED", "The message was expunged")
	}

	if err := d.SP(); err != nil {
		return err
	}
	msg, sp, err := readAppendMessage(s, d, func(size int64) error {
		// RFC 8508 3.4: only the net consumption counts.
		return s.checkQuota(size-oldSize, 0)
	})
	if sp != nil {
		defer sp.close()
	}
	if err != nil {
		return err
	}
	if err := c.End(); err != nil {
		return err
	}
	res, err := rp.Replace(s.ctx(), v.Mailbox.ID, uid, dst.info.ID, msg)
	switch {
	case errors.Is(err, store.ErrMessageGone):
		return No("EXPUNGEISSUED", "The message was expunged; nothing was appended")
	case err != nil:
		return tryCreate(err)
	}
	// RFC 8508 4.3: APPENDUID before the expunge it goes with.
	s.Untagged().Raw("OK [APPENDUID ").Raw(itoa64(uint64(res.Append.UIDValidity))).SP().
		Raw(itoa64(uint64(res.Append.UIDs[0]))).Raw("] Replacement Message ready").CRLF()
	return s.sendHighestModSeq(c, res.Expunge.ModSeq)
}

// readAppendMessage reads one message of APPEND's grammar, [flag-list SP]
// [date-time SP] literal (RFC 3502 6, RFC 4466 2.4), for REPLACE: check
// is asked about the literal's size before its bytes are accepted. The
// message is spooled as APPEND spools its messages; the caller closes the
// returned spool (which may be set even with an error).
func readAppendMessage(s *Session, d *wire.Decoder, check func(size int64) error) (store.NewMessage, *spooledMessage, error) {
	var m store.NewMessage
	var err error
	if c, _ := d.Peek(); c == '(' {
		if m.Flags, err = readFlagList(d); err != nil {
			return m, nil, err
		}
		if err := d.SP(); err != nil {
			return m, nil, err
		}
	}
	if c, _ := d.Peek(); c == '"' {
		if m.InternalDate, err = d.DateTime(); err != nil {
			return m, nil, err
		}
		if err := d.SP(); err != nil {
			return m, nil, err
		}
	}
	if isCatenate(d) {
		// RFC 8508 4.2: REPLACE takes CATENATE's append-data too.
		sp, _, err := readCatenate(s, d, check)
		if err == nil {
			m.Body = sp.reader()
		}
		return m, sp, err
	}
	lit, err := d.LiteralChecked(check)
	if err != nil {
		return m, nil, literalRefusal(err)
	}
	if lit.Size == 0 {
		return m, nil, No("", "Empty messages cannot be appended")
	}
	var mem *memBudget
	if lit.Size <= spoolInMemory && s.srv.spoolMem.reserve(lit.Size) {
		mem = s.srv.spoolMem
	}
	sp, err := spoolLiteral(lit, mem)
	if err != nil {
		return m, sp, err
	}
	m.Body = sp.reader()
	return m, sp, nil
}
