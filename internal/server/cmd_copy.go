package server

import (
	"context"
	"errors"

	"github.com/tidemark-mail/tidemark/internal/acl"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// COPY and UID COPY (RFC 9051 6.4.7). The copy is one store transaction
// that shares the message bytes; the tagged OK carries COPYUID (UIDPLUS,
// RFC 4315 3). Copying into the selected mailbox is allowed, and the new
// messages reach the client as EXISTS at the sync point.
func init() {
	register(
		&Command{Name: "COPY", States: StateSelected, UsesSeqs: true, Run: runCopy},
		&Command{Name: "COPY", UID: true, States: StateSelected, Run: runCopy},
	)
}

// readCopyArgs parses "SP sequence-set SP mailbox", shared by COPY and
// MOVE.
// copyTarget resolves COPY's and MOVE's arguments: the messages as store
// UIDs, and the destination mailbox.
func copyTarget(s *Session, c *Cmd, set wire.SeqSet, name string) (store.UIDSet, *mailboxRef, error) {
	uids, err := s.SeqSetUIDs(set, c.def.UID)
	if err != nil {
		return nil, nil, err
	}
	dst, err := s.destination(name)
	return uids, dst, err
}

func readCopyArgs(s *Session, c *Cmd) (wire.SeqSet, string, error) {
	d := c.Dec
	var set wire.SeqSet
	var name string
	err := d.SP()
	if err == nil {
		set, err = d.SeqSet()
	}
	if err == nil {
		err = d.SP()
	}
	if err == nil {
		name, err = s.ReadMailbox(d)
	}
	if err == nil {
		err = c.End()
	}
	return set, name, err
}

// destination looks up the target of COPY, MOVE or APPEND, which needs
// the insert right (RFC 4314 4). A missing mailbox gets TRYCREATE rather
// than NONEXISTENT (RFC 9051 6.4.7, 6.3.12).
func (s *Session) destination(name string) (*mailboxRef, error) {
	ref, err := s.resolve(name)
	if err == nil {
		err = ref.need(acl.Insert)
	}
	if err != nil {
		return nil, tryCreate(err)
	}
	return ref, nil
}

// tryCreate turns the store's "no such mailbox" into NO [TRYCREATE].
func tryCreate(err error) error {
	if errors.Is(err, store.ErrNoMailbox) {
		return &Error{Status: NO, Code: "TRYCREATE", Text: "No such mailbox", internal: err}
	}
	return err
}

// copyUIDCode spells "COPYUID uidvalidity src dst" (RFC 4315 3). Both
// lists are ascending and pair up in order, so both compress to ranges
// the same way.
func copyUIDCode(res store.CopyResult) string {
	var src, dst store.UIDSet
	for i := range res.SrcUIDs {
		src.Add(res.SrcUIDs[i])
		dst.Add(res.DstUIDs[i])
	}
	return "COPYUID " + itoa64(uint64(res.UIDValidity)) + " " + src.String() + " " + dst.String()
}

func runCopy(s *Session, c *Cmd) error {
	set, name, err := readCopyArgs(s, c)
	if err != nil {
		return err
	}
	uids, dst, err := copyTarget(s, c, set, name)
	if err != nil {
		return err
	}
	if uids.Empty() {
		c.Text = "No messages copied"
		return nil
	}
	if err := s.checkCopyQuota(dst.owner, s.view.Mailbox.ID, uids); err != nil {
		return err
	}
	var res store.CopyResult
	err = s.withProgress(uint64(s.view.CountIn(uids)), func(ctx context.Context) (err error) {
		res, err = s.copyMessages(ctx, dst, uids, false)
		return err
	})
	if err != nil {
		return tryCreate(err) // deleted meanwhile
	}
	if len(res.SrcUIDs) == 0 {
		c.Text = "No messages copied"
		return nil
	}
	c.Code = copyUIDCode(res)
	return nil
}
