package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/store"
)

var _ store.RecentStore = (*Account)(nil)

// ClaimRecent implements store.RecentStore: mailboxes.recent_uid is the
// lowest UID no session (on any node) has claimed. One statement raises it
// under the mailbox row's lock and returns the value it had, so two
// claims never get the same messages. It takes no modseq and notifies
// nobody (\Recent is not a flag change, RFC 3501 2.3.2).
func (a *Account) ClaimRecent(ctx context.Context, id store.MailboxID, upTo store.UID) (store.UID, error) {
	var prev store.UID
	err := a.s.pool.QueryRow(ctx, `UPDATE mailboxes m SET recent_uid = greatest(o.recent_uid, $3)
		FROM (SELECT id, recent_uid FROM mailboxes WHERE id = $1 AND user_id = $2 FOR UPDATE) o
		WHERE m.id = o.id RETURNING o.recent_uid`, id, a.id, int64(upTo)).Scan(&prev)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("mailbox %d: %w", id, store.ErrNoMailbox)
	}
	if err != nil {
		return 0, fmt.Errorf("claim recent: %w", err)
	}
	return prev, nil
}

// RecentCount implements store.RecentStore: the messages at or above the
// mailbox's floor, counted on the messages primary key.
func (a *Account) RecentCount(ctx context.Context, id store.MailboxID) (uint32, error) {
	var n uint32
	err := a.s.pool.QueryRow(ctx, `SELECT count(*) FROM messages m JOIN mailboxes mb ON mb.id = m.mailbox_id
		WHERE mb.id = $1 AND mb.user_id = $2 AND m.uid >= mb.recent_uid`, id, a.id).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count recent: %w", err)
	}
	return n, nil
}
