package sortthread

import (
	"sync"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Cache keeps the keys of one mailbox's messages, for as long as the
// mailbox is open (the server keeps one with each open mailbox). A
// message's keys never change, so an entry is never invalidated: only
// missing UIDs are loaded, and entries of expunged messages are dropped
// when they come to outnumber the live ones. Cache also remembers the last
// answer of each kind for an unchanged mailbox (Memo).
type Cache struct {
	mu   sync.Mutex
	keys map[store.UID]*Msg   // guarded by mu
	memo map[string]memoEntry // guarded by mu
}

type memoEntry struct {
	at  MemoAt
	val any
}

// MemoAt is the state of a mailbox an answer was computed at.
type MemoAt struct {
	ModSeq  store.ModSeq
	Highest store.UID // the highest UID the asking view holds
	Count   uint32    // and how many messages it holds
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{keys: make(map[store.UID]*Msg), memo: make(map[string]memoEntry)}
}

// Keys returns the keys of uids (ascending), in that order, loading those
// not yet cached with load. load is called without the cache's lock, with
// the missing UIDs, and calls add for each message it finds; a UID it does
// not find (expunged meanwhile) is left out of the result. live is how
// many messages the mailbox holds, for dropping stale entries.
func (c *Cache) Keys(uids []store.UID, live int, load func(missing store.UIDSet, add func(Msg)) error) ([]*Msg, error) {
	var missing store.UIDSet
	c.mu.Lock()
	for _, u := range uids {
		if c.keys[u] == nil {
			missing.Add(u)
		}
	}
	c.mu.Unlock()
	if !missing.Empty() {
		loaded := make([]*Msg, 0, len(uids))
		err := load(missing, func(m Msg) { loaded = append(loaded, &m) })
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if len(c.keys)+len(loaded) > 2*live+1024 {
			// Mostly expunged messages: keep only what is asked now.
			keep := make(map[store.UID]*Msg, len(uids))
			for _, u := range uids {
				if m := c.keys[u]; m != nil {
					keep[u] = m
				}
			}
			c.keys = keep
		}
		for _, m := range loaded {
			c.keys[m.UID] = m
		}
		c.mu.Unlock()
	}
	out := make([]*Msg, 0, len(uids))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range uids {
		if m := c.keys[u]; m != nil {
			out = append(out, m)
		}
	}
	return out, nil
}

// Memo returns the answer remembered under key when it was computed at
// the same state, at.
func (c *Cache) Memo(key string, at MemoAt) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.memo[key]
	if !ok || e.at != at {
		return nil, false
	}
	return e.val, true
}

// SetMemo remembers an answer computed at state at. Only the latest
// state's answers are kept.
func (c *Cache) SetMemo(key string, at MemoAt, val any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.memo {
		if e.at != at {
			delete(c.memo, k)
		}
	}
	if len(c.memo) >= 16 {
		clear(c.memo)
	}
	c.memo[key] = memoEntry{at, val}
}
