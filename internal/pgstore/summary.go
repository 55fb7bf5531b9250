package pgstore

import (
	"context"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// The summary of a message, as in the embedded store: the sort and thread
// keys (sortthread.EncodeKeys) and the RFC 8970 preview, computed at
// delivery and kept in the contents row, so that the first SORT of a
// mailbox reads one small value per message (store.KeysReader) and FETCH
// PREVIEW reads no body. NULL for contents stored before schema version 12
// (and preview for a message whose part could not be read): readers then
// compute them, and Reindex fills them in.
//
// The same step adds text_index_partial_rows, which finds the few
// contents whose text was cut short without reading the text index
// (SearchText).
const schemaV12Summary = `
ALTER TABLE contents ADD COLUMN sort_keys bytea;
ALTER TABLE contents ADD COLUMN preview text;
CREATE INDEX text_index_partial_rows ON text_index (content_id) WHERE partial;
`

// keysPage is how many messages one query of MessageKeys reads.
const keysPage = 8192

// MessageKeys implements store.KeysReader.
func (a *Account) MessageKeys(ctx context.Context, id store.MailboxID, uids store.UIDSet, fn func(*store.MessageKeys) error) error {
	if err := store.CheckUIDs(uids); err != nil {
		return err
	}
	if _, err := lookupID(ctx, a.s.pool, a.id, id); err != nil {
		return err
	}
	spans, filter := store.KeySpans(uids)
	var k store.MessageKeys
	for _, r := range spans {
		lo := r.Start
		for {
			rows, err := a.s.pool.Query(ctx, `SELECT m.uid, m.size, c.internaldate, c.sort_keys
				FROM messages m JOIN contents c ON c.id = m.content_id
				WHERE m.mailbox_id = $1 AND m.uid BETWEEN $2 AND $3 ORDER BY m.uid LIMIT $4`, id, lo, r.Stop, keysPage)
			if err != nil {
				return fmt.Errorf("sort keys: %w", err)
			}
			n := 0
			var last store.UID
			for rows.Next() {
				if err := rows.Scan(&k.UID, &k.Size, &k.InternalDate, &k.Keys); err != nil {
					rows.Close()
					return fmt.Errorf("sort keys: %w", err)
				}
				n, last = n+1, k.UID
				if filter && !uids.Contains(k.UID) {
					continue
				}
				if err := fn(&k); err != nil {
					rows.Close()
					return err
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
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
