// Package contentmap turns a text index's matches, which name contents
// (the stored messages' bytes, shared by copies), into a mailbox's UIDs in
// memory: one merge of two ordered lists per search instead of a join
// with the mailbox's messages in the database, which for a common word
// (tens of thousands of matches) costs as much as the index itself. Both
// stores keep the maps of the mailboxes searched last in a Cache.
//
// A map is valid for the mailbox state it was read in, named by a Stamp:
// every append and expunge raises HIGHESTMODSEQ (the stores are change
// logs), so a search that sees the same stamp sees the same messages. A
// flag change raises it too and costs a rebuild, one read of the
// mailbox's (content id, UID) pairs.
package contentmap

import (
	"errors"
	"slices"
	"sync"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Stamp names a mailbox state.
type Stamp struct {
	UIDValidity, HighestModseq, UIDNext, Messages int64
}

// Map is one mailbox's messages ordered by content id (then UID: a COPY
// into the same mailbox shares its content).
type Map struct {
	stamp Stamp
	cids  []int64
	uids  []store.UID
}

var errLengths = errors.New("content map: lists of different lengths")

// New returns the map of the pairs (cids[i], uids[i]) of a mailbox in
// state stamp. It takes ownership of both slices.
func New(stamp Stamp, cids []int64, uids []store.UID) (*Map, error) {
	if len(cids) != len(uids) {
		return nil, errLengths
	}
	m := &Map{stamp: stamp, cids: cids, uids: uids}
	m.sort()
	return m, nil
}

// Stamp is the mailbox state m is the map of.
func (m *Map) Stamp() Stamp { return m.stamp }

// Len is the number of messages in the map.
func (m *Map) Len() int { return len(m.cids) }

// Bounds returns the smallest and largest content id of the mailbox;
// ok false when it is empty.
func (m *Map) Bounds() (lo, hi int64, ok bool) {
	if len(m.cids) == 0 {
		return 0, 0, false
	}
	return m.cids[0], m.cids[len(m.cids)-1], true
}

// sort orders the pairs by content id, then UID. They are read in UID
// order, in which content ids mostly ascend already (appends take new
// ones), so the check usually spares the sort.
func (m *Map) sort() {
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

// UIDsOf returns the UIDs, ascending, of the mailbox's messages whose
// content id is in cids (ascending): one walk of both lists. Content ids
// of no message of the mailbox are skipped.
func (m *Map) UIDsOf(cids []int64) []store.UID {
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

// Cache holds the maps of the mailboxes searched last, at most Max of
// them (a map costs 16 bytes a message). The zero Cache holds none;
// it is safe for concurrent use.
type Cache struct {
	Max int

	mu   sync.Mutex
	maps map[store.MailboxID]*Map
	used []store.MailboxID // least recently used first
}

// Get returns the map of mailbox id in state stamp, nil when the one
// held (if any) is of another state.
func (c *Cache) Get(id store.MailboxID, stamp Stamp) *Map {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.maps[id]
	if m == nil || m.stamp != stamp {
		return nil
	}
	c.touchLocked(id)
	return m
}

// Put keeps m as the map of mailbox id unless the one held is of a later
// state (a concurrent search read it after m), evicting the least
// recently used beyond Max.
func (c *Cache) Put(id store.MailboxID, m *Map) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.maps[id]; old != nil && old.stamp.HighestModseq > m.stamp.HighestModseq {
		return
	}
	if c.maps == nil {
		c.maps = make(map[store.MailboxID]*Map)
	}
	c.maps[id] = m
	c.touchLocked(id)
	for len(c.used) > c.Max {
		delete(c.maps, c.used[0])
		c.used = c.used[1:]
	}
}

// Held returns the map of mailbox id held, of whatever state (nil when
// none): a search may try it and check the state it finds.
func (c *Cache) Held(id store.MailboxID) *Map {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maps[id]
}

// Reset drops every map (a benchmark measuring the first search after a
// change).
func (c *Cache) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.maps, c.used = nil, nil
}

// touchLocked makes id the most recently used; mu is held.
func (c *Cache) touchLocked(id store.MailboxID) {
	if i := slices.Index(c.used, id); i >= 0 {
		c.used = slices.Delete(c.used, i, i+1)
	}
	c.used = append(c.used, id)
}
