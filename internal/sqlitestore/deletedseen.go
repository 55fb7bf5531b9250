package sqlitestore

import (
	"fmt"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// seenInMailbox returns the EMAILIDs of the messages mailbox id holds and
// of those its expunged_ids name, for store.MailboxTombstone.Seen: when
// the mailbox has been synced with a peer (history_from set); nil
// otherwise (no other replica holds its messages).
func (t *writeTx) seenInMailbox(id store.MailboxID) ([]string, error) {
	var from store.ModSeq
	if err := t.tx.QueryRowContext(t.ctx, `SELECT history_from FROM mailboxes WHERE id = ?`, id).Scan(&from); err != nil || from == 0 {
		return nil, err
	}
	rows, err := t.tx.QueryContext(t.ctx, `SELECT c.email_id FROM messages m JOIN contents c ON c.id = m.content_id WHERE m.mailbox_id = ?
		UNION ALL SELECT email_id FROM expunged_ids WHERE mailbox_id = ?`, id, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, err
		}
		ids = append(ids, strings.Fields(e)...)
	}
	return store.DeletedSeen(ids), rows.Err()
}

// recordSeen adds seen to what the tombstone of mailbox guid records
// (nil: nothing to add).
func (t *writeTx) recordSeen(guid string, seen []string) error {
	if seen == nil {
		return nil
	}
	var old *string
	if err := t.tx.QueryRowContext(t.ctx, `SELECT seen FROM mailbox_tombstones WHERE guid = ?`, guid).Scan(&old); err != nil {
		return fmt.Errorf("mailbox tombstone: %w", err)
	}
	_, err := t.tx.ExecContext(t.ctx, `UPDATE mailbox_tombstones SET seen = ? WHERE guid = ?`,
		store.EncodeSeen(store.DeletedSeen(store.DecodeSeen(old), seen)), guid)
	return err
}
