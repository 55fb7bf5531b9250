package pgstore

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// seenInMailbox returns the EMAILIDs of the messages mailbox id holds and
// of those its expunged_ids name, for store.MailboxTombstone.Seen: when
// the mailbox has been synced with a peer (history_from set); nil
// otherwise (no other replica holds its messages).
func (t *writeTx) seenInMailbox(id store.MailboxID) ([]string, error) {
	var from int64
	if err := t.tx.QueryRow(t.ctx, `SELECT history_from FROM mailboxes WHERE id = $1`, id).Scan(&from); err != nil || from == 0 {
		return nil, err
	}
	rows, err := t.tx.Query(t.ctx, `SELECT c.email_id FROM messages m JOIN contents c ON c.id = m.content_id WHERE m.mailbox_id = $1
		UNION ALL SELECT email_id FROM expunged_ids WHERE mailbox_id = $1`, id)
	if err != nil {
		return nil, err
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for _, e := range found {
		ids = append(ids, strings.Fields(e)...)
	}
	return store.DeletedSeen(ids), nil
}

// recordSeen adds seen to what the tombstone of mailbox guid records
// (nil: nothing to add).
func (t *writeTx) recordSeen(guid string, seen []string) error {
	if seen == nil {
		return nil
	}
	var old *string
	if err := t.tx.QueryRow(t.ctx, `SELECT seen FROM mailbox_tombstones WHERE user_id = $1 AND guid = $2`, t.userID, guid).Scan(&old); err != nil {
		return fmt.Errorf("mailbox tombstone: %w", err)
	}
	_, err := t.tx.Exec(t.ctx, `UPDATE mailbox_tombstones SET seen = $1 WHERE user_id = $2 AND guid = $3`,
		store.EncodeSeen(store.DeletedSeen(store.DecodeSeen(old), seen)), t.userID, guid)
	return err
}
