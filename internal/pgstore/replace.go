package pgstore

import (
	"context"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Replace implements store.Replacer: the body spooled and parsed as for
// Append, then one write transaction (under the user's row lock) removes
// the old message, leaves its tombstone and inserts the new one.
func (a *Account) Replace(ctx context.Context, src store.MailboxID, uid store.UID, dst store.MailboxID, msg store.NewMessage) (store.ReplaceResult, error) {
	var res store.ReplaceResult
	old := store.UIDSet{{Start: uid, Stop: uid}}
	if err := checkUIDs(old); err != nil {
		return res, err
	}
	if _, err := lookupID(ctx, a.s.pool, a.id, dst); err != nil {
		return res, err
	}
	sys, kw, err := normalizeFlags(msg.Flags)
	if err != nil {
		return res, err
	}
	prepared := []preparedMessage{{flags: sys, keywords: kw, internalDate: msg.InternalDate}}
	budget := int64(memoryBatchMax)
	cleanup, err := a.spool(&prepared[0], msg.Body, &budget)
	if err != nil {
		return res, fmt.Errorf("replace: %w", err)
	}
	defer cleanup()
	if err := prepared[0].parse(!a.s.opts.NoTextIndex); err != nil {
		return res, fmt.Errorf("replace: %w", err)
	}
	now := a.s.now()
	err = a.write(ctx, func(t *writeTx) error {
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
		if res.Append.UIDs, res.Append.ModSeq, err = t.insertMessages(mb, prepared, now); err != nil {
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
