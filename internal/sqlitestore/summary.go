package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// The summary of a message: what SORT and THREAD read, computed once at
// delivery from the parse and kept in the message's contents row, so that
// the first SORT of a mailbox reads one small value per message
// (store.KeysReader) instead of decoding every stored structure.
//
// contents.sort_keys is sortthread.EncodeKeys of the structure;
// contents.preview is message.Preview's text (” for a message without a
// text part). Both are NULL for messages stored before schema version 9:
// readers then compute the keys from the structure, and Reindex fills
// them in. Since schema version 14 the preview is no longer stored (about
// 200 bytes a message, text the compressed body already holds): a read
// that asks for it computes it from the structure and the body
// (previewFor in read.go), as it does for every row whose preview is NULL;
// previews stored before stay and are read as they are.
const schemaV9Summary = `
ALTER TABLE contents ADD COLUMN sort_keys BLOB;
ALTER TABLE contents ADD COLUMN preview TEXT;
`

// keysPage is how many messages MessageKeys reads per read transaction.
const keysPage = 8192

// MessageKeys implements store.KeysReader: the stored sort keys of the
// messages of uids, ascending, in read transactions of keysPage messages.
func (a *Account) MessageKeys(ctx context.Context, id store.MailboxID, uids store.UIDSet, fn func(*store.MessageKeys) error) error {
	if err := store.CheckUIDs(uids); err != nil {
		return err
	}
	if _, err := lookupID(ctx, dbStmts{a.u.rstmts}, id); err != nil {
		return err
	}
	spans, filter := store.KeySpans(uids)
	var k store.MessageKeys
	for _, r := range spans {
		lo := r.Start
		for {
			n := 0
			var last store.UID
			err := a.u.readTx(ctx, func(tx *sql.Tx) error {
				rows, err := tx.QueryContext(ctx, `SELECT m.uid, m.size, c.internaldate, c.sort_keys
					FROM messages m JOIN contents c ON c.id = m.content_id
					WHERE m.mailbox_id = ? AND m.uid BETWEEN ? AND ? ORDER BY m.uid LIMIT ?`, id, lo, r.Stop, keysPage)
				if err != nil {
					return err
				}
				defer rows.Close()
				var keys sql.RawBytes
				var uid int64 // not store.UID: database/sql converts other integer types through strings
				for rows.Next() {
					if err := rows.Scan(&uid, &k.Size, &k.InternalDate, &keys); err != nil {
						return err
					}
					k.UID = store.UID(uid)
					n, last = n+1, k.UID
					if filter && !uids.Contains(k.UID) {
						continue
					}
					k.Keys = keys
					if err := fn(&k); err != nil {
						return err
					}
				}
				return rows.Err()
			})
			if err != nil {
				return fmt.Errorf("sort keys: %w", err)
			}
			if n < keysPage || last >= r.Stop {
				break
			}
			lo = last + 1
		}
	}
	return nil
}

var _ store.KeysReader = (*Account)(nil)
