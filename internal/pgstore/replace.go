package pgstore

import (
	"context"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetx"
)

// Replace implements store.Replacer: the body spooled and parsed as for
// Append, then one write transaction (under the user's row lock) removes
// the old message, leaves its tombstone and inserts the new one.
func (a *Account) Replace(ctx context.Context, src store.MailboxID, uid store.UID, dst store.MailboxID, msg store.NewMessage) (store.ReplaceResult, error) {
	var res store.ReplaceResult
	old := store.UIDSet{{Start: uid, Stop: uid}}
	if err := store.CheckUIDs(old); err != nil {
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
	err = a.write(ctx, func(t *writeTx) (err error) {
		res, err = storetx.Replace(t, src, uid, func() (store.AppendResult, error) {
			mb, err := t.mailbox(dst)
			if err != nil {
				return store.AppendResult{}, err
			}
			r := store.AppendResult{UIDValidity: mb.UIDValidity}
			r.UIDs, r.ModSeq, err = t.insertMessages(mb, prepared, now)
			return r, err
		})
		return err
	})
	if err != nil {
		return store.ReplaceResult{}, err
	}
	return res, nil
}
