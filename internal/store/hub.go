package store

import "sync"

// Hub announces commits: after a transaction that changes a mailbox
// commits, the backend publishes the mailbox's new HIGHESTMODSEQ, and every
// watcher of that mailbox is woken. A notification carries no data and may
// be coalesced with others; a woken watcher asks the store what changed.
//
// Besides waking watchers, the Hub counts publications per mailbox
// (Generation). A cache that remembers the generation it last refreshed at
// can tell, without a channel and without a race against the order in
// which watchers are woken, whether anything was published since.
type Hub struct {
	mu       sync.Mutex
	watchers map[hubKey]map[*Watcher]struct{} // guarded by mu
	gens     map[hubKey]uint64                // guarded by mu; publications so far
}

type hubKey struct {
	user    string
	mailbox MailboxID
}

// Watcher receives wake-ups for one mailbox.
type Watcher struct {
	// C has a value whenever the mailbox changed since the last receive.
	C   <-chan struct{}
	c   chan struct{}
	hub *Hub
	key hubKey
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{watchers: make(map[hubKey]map[*Watcher]struct{}), gens: make(map[hubKey]uint64)}
}

// Watch starts watching a user's mailbox. Close the watcher when done.
func (h *Hub) Watch(user string, id MailboxID) *Watcher {
	c := make(chan struct{}, 1)
	w := &Watcher{C: c, c: c, hub: h, key: hubKey{user, id}}
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.watchers[w.key]
	if m == nil {
		m = make(map[*Watcher]struct{})
		h.watchers[w.key] = m
	}
	m[w] = struct{}{}
	return w
}

// Close stops the watcher. It is safe to call more than once.
func (w *Watcher) Close() {
	h := w.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if m := h.watchers[w.key]; m != nil {
		delete(m, w)
		if len(m) == 0 {
			delete(h.watchers, w.key)
		}
	}
}

// Publish wakes every watcher of the mailbox. It never blocks. The modseq
// is informational; zero means "something changed" (a deletion, say).
func (h *Hub) Publish(user string, id MailboxID, _ ModSeq) {
	k := hubKey{user, id}
	h.mu.Lock()
	defer h.mu.Unlock()
	// The count moves before anyone wakes, so a woken watcher that
	// consults a cache keyed on Generation sees the cache as stale.
	h.gens[k]++
	for w := range h.watchers[k] {
		select {
		case w.c <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// Generation returns how many times the mailbox was published so far. It
// only grows.
func (h *Hub) Generation(user string, id MailboxID) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gens[hubKey{user, id}]
}
