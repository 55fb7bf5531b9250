package server

import "github.com/tidemark-mail/tidemark/internal/acl"

// MOVE and UID MOVE (RFC 6851, RFC 9051 6.4.8): one store transaction
// copies the messages into the destination and expunges them from the
// source, so each message is in exactly one of the two at every instant.
//
// Order of responses (RFC 9051 6.4.8): the COPYUID code in an untagged
// OK before any expunge, then EXPUNGE (or VANISHED under QRESYNC) for the
// source messages from the sync the command runs itself, then the tagged
// OK, with HIGHESTMODSEQ under QRESYNC (RFC 6851 4.4).
import (
	"context"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func init() {
	register(
		&Command{Name: "MOVE", States: StateSelected, UsesSeqs: true, Expunges: true, Run: runMove},
		&Command{Name: "MOVE", UID: true, States: StateSelected, Expunges: true, Run: runMove},
	)
	addCapability("MOVE", nil)
}

func runMove(s *Session, c *Cmd) error {
	set, name, err := readCopyArgs(s, c)
	if err != nil {
		return err
	}
	v := s.view
	if v.ReadOnly {
		return errReadOnly() // the source messages cannot be expunged
	}
	if err := s.needSelected(acl.Expunge | acl.DeleteMessages); err != nil {
		return err // RFC 6851 3.3: MOVE is COPY, \Deleted and EXPUNGE
	}
	uids, dst, err := copyTarget(s, c, set, name)
	if err != nil {
		return err
	}
	if uids.Empty() {
		c.Text = "No messages moved"
		return nil
	}
	var res store.CopyResult
	err = s.withProgress(uint64(v.CountIn(uids)), func(ctx context.Context) (err error) {
		res, err = s.copyMessages(ctx, dst, uids, true)
		return err
	})
	if err != nil {
		return tryCreate(err)
	}
	if len(res.SrcUIDs) == 0 {
		c.Text = "No messages moved"
		return nil
	}
	s.Untagged().Raw("OK [").Raw(copyUIDCode(res)).Raw("] Moved").CRLF()
	if s.Enabled("QRESYNC") {
		return s.sendHighestModSeq(c, res.SrcModSeq)
	}
	// Without QRESYNC the dispatcher's sync point reports the expunges.
	return nil
}
