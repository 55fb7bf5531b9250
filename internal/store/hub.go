package store

import "sync"

// Hub announces commits: after a transaction that changes a mailbox
// commits, the backend publishes the mailbox's new HIGHESTMODSEQ, and every
// watcher of that mailbox is woken. A notification carries no data and may
// be coalesced with others; a woken watcher asks the store what changed.
type Hub struct {
	mu       sync.Mutex
	watchers map[hubKey]map[*Watcher]struct{} // guarded by mu
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
	return &Hub{watchers: make(map[hubKey]map[*Watcher]struct{})}
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

// Publish wakes every watcher of the mailbox. It never blocks.
func (h *Hub) Publish(user string, id MailboxID, _ ModSeq) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers[hubKey{user, id}] {
		select {
		case w.c <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}
