package sqlitestore

import (
	"context"
	"database/sql"

	"github.com/tidemark-mail/tidemark/internal/contentmap"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// A text search in a mailbox holding most of the account turns the
// index's matches (content ids, ascending) into UIDs with a map of the
// mailbox's messages by content id, kept in memory between searches
// (internal/contentmap): one merge of two ordered lists instead of an
// index lookup per match, which for a common word (tens of thousands of
// matches) cost as much as the index itself. A map is valid for the
// mailbox state it was read in: every append and expunge raises
// HIGHESTMODSEQ, so a search in a transaction that sees the same stamp
// sees the same messages.

// maxContentMaps is how many mailboxes' maps a user keeps.
const maxContentMaps = 4

// contentMap returns the map of mailbox id as tx sees it, reading it when
// the one held is of another state.
func (u *userDB) contentMap(ctx context.Context, tx *sql.Tx, id store.MailboxID) (*contentmap.Map, error) {
	var st contentmap.Stamp
	if err := tx.QueryRowContext(ctx, `SELECT uidvalidity, highestmodseq, uidnext, messages FROM mailboxes WHERE id = ?`, id).
		Scan(&st.UIDValidity, &st.HighestModseq, &st.UIDNext, &st.Messages); err != nil {
		return nil, err
	}
	if m := u.cmaps.Get(id, st); m != nil {
		return m, nil
	}

	// Two lists in one row: one step of SQLite and one scan for the whole
	// mailbox instead of a row per message through database/sql.
	var cidList, uidList sql.RawBytes
	rows, err := tx.QueryContext(ctx, `SELECT coalesce(group_concat(content_id), ''), coalesce(group_concat(uid), '')
		FROM messages WHERE mailbox_id = ?`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cids []int64
	var uids []store.UID
	for rows.Next() {
		if err := rows.Scan(&cidList, &uidList); err != nil {
			return nil, err
		}
		cids = appendList(cids, cidList)
		for _, v := range appendList(nil, uidList) {
			uids = append(uids, store.UID(v))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	m, err := contentmap.New(st, cids, uids)
	if err != nil {
		return nil, err
	}
	u.cmaps.Put(id, m)
	return m, nil
}
