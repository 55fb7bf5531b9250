package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// A text search in a mailbox holding most of the account turns the
// index's matches (content ids, ascending) into UIDs with a map of the
// mailbox's messages by content id, kept in memory between searches: one
// merge of two ordered lists instead of an index lookup per match, which
// for a common word (tens of thousands of matches) cost as much as the
// index itself.
//
// A map is valid for the mailbox state it was read in, named by the
// mailbox's UIDVALIDITY, HIGHESTMODSEQ, UIDNEXT and message count: every
// append and expunge raises HIGHESTMODSEQ (the store is a change log), so
// a search in a transaction that sees the same stamp sees the same
// messages. A flag change raises it too and costs a rebuild, one read of
// the mailbox's (content id, UID) pairs.

// contentMap is one mailbox's messages ordered by content id (then UID:
// a COPY into the same mailbox shares its content).
type contentMap struct {
	stamp mailboxStamp
	cids  []int64
	uids  []store.UID
}

type mailboxStamp struct {
	uidvalidity, highestModseq, uidnext, messages int64
}

// contentMaps holds the maps of the mailboxes searched last, at most
// maxContentMaps of them (a map costs 12 bytes a message).
type contentMaps struct {
	mu   sync.Mutex
	maps map[store.MailboxID]*contentMap
	used []store.MailboxID // least recently used first
}

const maxContentMaps = 4

var errCorruptList = errors.New("content map: lists of different lengths")

// contentMap returns the map of mailbox id as tx sees it, reading it when
// the one held is of another state.
func (u *userDB) contentMap(ctx context.Context, tx *sql.Tx, id store.MailboxID) (*contentMap, error) {
	var st mailboxStamp
	if err := tx.QueryRowContext(ctx, `SELECT uidvalidity, highestmodseq, uidnext, messages FROM mailboxes WHERE id = ?`, id).
		Scan(&st.uidvalidity, &st.highestModseq, &st.uidnext, &st.messages); err != nil {
		return nil, err
	}
	cm := &u.cmaps
	cm.mu.Lock()
	m := cm.maps[id]
	if m != nil && m.stamp == st {
		cm.touchLocked(id)
		cm.mu.Unlock()
		return m, nil
	}
	cm.mu.Unlock()

	// Two lists in one row: one step of SQLite and one scan for the whole
	// mailbox instead of a row per message through database/sql.
	var cidList, uidList sql.RawBytes
	rows, err := tx.QueryContext(ctx, `SELECT coalesce(group_concat(content_id), ''), coalesce(group_concat(uid), '')
		FROM messages WHERE mailbox_id = ?`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m = &contentMap{stamp: st}
	for rows.Next() {
		if err := rows.Scan(&cidList, &uidList); err != nil {
			return nil, err
		}
		m.cids = appendList(m.cids, cidList)
		uids := appendList(nil, uidList)
		m.uids = make([]store.UID, len(uids))
		for i, v := range uids {
			m.uids[i] = store.UID(v)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(m.cids) != len(m.uids) {
		return nil, errCorruptList
	}
	m.sort()

	cm.mu.Lock()
	defer cm.mu.Unlock()
	if old := cm.maps[id]; old == nil || old.stamp.highestModseq <= st.highestModseq {
		if cm.maps == nil {
			cm.maps = make(map[store.MailboxID]*contentMap)
		}
		cm.maps[id] = m
		cm.touchLocked(id)
		for len(cm.used) > maxContentMaps {
			delete(cm.maps, cm.used[0])
			cm.used = cm.used[1:]
		}
	}
	return m, nil
}

// touchLocked makes id the most recently used; mu is held.
func (cm *contentMaps) touchLocked(id store.MailboxID) {
	if i := slices.Index(cm.used, id); i >= 0 {
		cm.used = slices.Delete(cm.used, i, i+1)
	}
	cm.used = append(cm.used, id)
}

// sort orders the pairs by content id, then UID. They are read in UID
// order, in which content ids mostly ascend already (appends take new
// ones), so the check usually spares the sort.
func (m *contentMap) sort() {
	sorted := true
	for i := 1; i < len(m.cids); i++ {
		if m.cids[i] < m.cids[i-1] {
			sorted = false
			break
		}
	}
	if sorted {
		return
	}
	idx := make([]int, len(m.cids))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		if m.cids[a] != m.cids[b] {
			if m.cids[a] < m.cids[b] {
				return -1
			}
			return 1
		}
		return int(m.uids[a]) - int(m.uids[b])
	})
	cids, uids := make([]int64, len(idx)), make([]store.UID, len(idx))
	for i, j := range idx {
		cids[i], uids[i] = m.cids[j], m.uids[j]
	}
	m.cids, m.uids = cids, uids
}

// uidsOf returns the UIDs, ascending, of the mailbox's messages whose
// content id is in cids (ascending): one walk of both lists.
func (m *contentMap) uidsOf(cids []int64) []store.UID {
	var out []store.UID
	i := 0
	for _, c := range cids {
		for i < len(m.cids) && m.cids[i] < c {
			i++
		}
		for j := i; j < len(m.cids) && m.cids[j] == c; j++ {
			out = append(out, m.uids[j])
		}
	}
	if !slices.IsSorted(out) {
		slices.Sort(out)
	}
	return out
}
