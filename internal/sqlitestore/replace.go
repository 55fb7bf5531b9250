package sqlitestore

import (
	"context"
	"fmt"
	"io"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetx"
)

// Replace implements store.Replacer: Append's preparation (the body read,
// parsed and, when large, made durable before the transaction), then one
// write transaction that removes the old message, leaves its tombstone and
// inserts the new one.
func (a *Account) Replace(ctx context.Context, src store.MailboxID, uid store.UID, dst store.MailboxID, msg store.NewMessage) (store.ReplaceResult, error) {
	var res store.ReplaceResult
	old := store.UIDSet{{Start: uid, Stop: uid}}
	if err := store.CheckUIDs(old); err != nil {
		return res, err
	}
	target, err := lookupID(ctx, a.u.reads(), dst)
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
	err = a.u.write(ctx, func(t *writeTx) (err error) {
		res, err = storetx.Replace(t, src, uid, func() (store.AppendResult, error) {
			mb, err := t.mailbox(dst)
			if err != nil {
				return store.AppendResult{}, err
			}
			r := store.AppendResult{UIDValidity: mb.UIDValidity}
			r.UIDs, r.ModSeq, err = t.insertMessages(mb, prepared)
			return r, err
		})
		return err
	})
	if err != nil {
		return store.ReplaceResult{}, err
	}
	return res, nil
}
