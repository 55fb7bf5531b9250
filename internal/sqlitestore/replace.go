package sqlitestore

import (
	"context"
	"fmt"
	"io"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Replace implements store.Replacer: Append's preparation (the body read,
// parsed and, when large, made durable before the transaction), then one
// write transaction that removes the old message, leaves its tombstone and
// inserts the new one.
func (a *Account) Replace(ctx context.Context, src store.MailboxID, uid store.UID, dst store.MailboxID, msg store.NewMessage) (store.ReplaceResult, error) {
	var res store.ReplaceResult
	old := store.UIDSet{{Start: uid, Stop: uid}}
	if err := checkUIDs(old); err != nil {
		return res, err
	}
	target, err := lookupID(ctx, a.u.r, dst)
	if err != nil {
		return res, err
	}
	sys, kw, err := normalizeFlags(msg.Flags)
	if err != nil {
		return res, err
	}
	prepared := []preparedMessage{{flags: sys, keywords: kw, internalDate: msg.InternalDate}}
	a.u.gcMu.RLock()
	defer a.u.gcMu.RUnlock()
	if err := a.u.prepareBodies(prepared, []io.Reader{msg.Body}); err != nil {
		return res, fmt.Errorf("mailbox %q: %w", target.Name, err)
	}
	err = a.u.write(ctx, func(t *writeTx) error {
		res = store.ReplaceResult{}
		if _, err := t.mailbox(src); err != nil {
			return err
		}
		gone, err := t.removeMessages(src, old, 0)
		if err != nil {
			return err
		}
		if gone.Empty() {
			return fmt.Errorf("replace UID %d: %w", uid, store.ErrMessageGone)
		}
		mb, err := t.mailbox(dst)
		if err != nil {
			return err
		}
		res.Append.UIDValidity = mb.UIDValidity
		if res.Append.UIDs, res.Append.ModSeq, err = t.insertMessages(mb, prepared); err != nil {
			return err
		}
		ms, err := t.modseq(src)
		if err != nil {
			return err
		}
		res.Expunge = store.ExpungeResult{ModSeq: ms, UIDs: gone.UIDs()}
		return t.addTombstones(src, gone, ms)
	})
	if err != nil {
		return store.ReplaceResult{}, err
	}
	return res, nil
}
