package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

var _ store.RecentStore = (*Account)(nil)

// ClaimRecent implements store.RecentStore: mailboxes.recent_uid is the
// lowest UID no session has claimed yet. A claim raises it in a write
// transaction of its own, which takes no modseq and publishes nothing
// (\Recent is not a flag change, RFC 3501 2.3.2); a claim that would not
// raise it writes nothing.
func (a *Account) ClaimRecent(ctx context.Context, id store.MailboxID, upTo store.UID) (store.UID, error) {
	var floor store.UID
	err := a.u.reads().QueryRowContext(ctx, `SELECT recent_uid FROM mailboxes WHERE id = ?`, id).Scan(&floor)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("mailbox %d: %w", id, store.ErrNoMailbox)
	}
	if err != nil {
		return 0, fmt.Errorf("read recent: %w", err)
	}
	if upTo <= floor {
		return floor, nil
	}
	err = a.u.write(ctx, func(t *writeTx) error {
		// Read again under the writer lock: another session may have
		// claimed since. A claim never passes UIDNEXT, which would take
		// messages that do not exist yet from the session that sees them.
		var next store.UID
		err := t.q.QueryRowContext(t.ctx, `SELECT recent_uid, uidnext FROM mailboxes WHERE id = ?`, id).Scan(&floor, &next)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("mailbox %d: %w", id, store.ErrNoMailbox)
		}
		upTo = min(upTo, next)
		if err != nil || upTo <= floor {
			return err
		}
		_, err = t.q.ExecContext(t.ctx, `UPDATE mailboxes SET recent_uid = ? WHERE id = ?`, upTo, id)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("claim recent: %w", err)
	}
	return floor, nil
}

// RecentCount implements store.RecentStore: the messages at or above the
// mailbox's recent_uid, counted on the messages primary key.
func (a *Account) RecentCount(ctx context.Context, id store.MailboxID) (uint32, error) {
	var n uint32
	err := a.u.r.QueryRowContext(ctx, `SELECT count(*) FROM messages
		WHERE mailbox_id = ?1 AND uid >= (SELECT recent_uid FROM mailboxes WHERE id = ?1)`, id).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count recent: %w", err)
	}
	return n, nil
}
