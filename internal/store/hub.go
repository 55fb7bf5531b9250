package store

import "sync"

// Hub announces commits: after a transaction that changes a mailbox
// commits, the backend publishes the mailbox's new HIGHESTMODSEQ, and every
// watcher of that mailbox is woken. A notification carries no data and may
// be coalesced with others; a woken watcher asks the store what changed.
//
// The Hub keeps state only for mailboxes someone watches: a publication
// for a mailbox nobody watches is dropped, and the last Close of a
// mailbox's watchers forgets it, so the Hub's size follows its watchers,
// not every mailbox ever written. While a mailbox is watched the Hub
// remembers the highest modseq published for it; a publication at or
// below that (the same commit announced twice, say by the committing
// process and by a poller that noticed it, or one that arrives after a
// later one) wakes nobody, since every watcher was already woken for a
// state that includes it. Zero means "something changed" without a modseq
// (a deletion, say) and always wakes.
//
// Besides waking watchers, the Hub counts the publications that woke them
// (Watcher.Generation). A cache that holds a Watcher and remembers the
// generation it last refreshed at can tell, without draining the channel
// and without a race against the order in which watchers are woken,
// whether anything was published since.
//
// Backends other than the embedded one (a database shared by several
// servers, whose notifications may be late or repeated) publish into the
// same Hub; the rules above make that harmless.
type Hub struct {
	mu    sync.Mutex
	boxes map[hubKey]*hubBox // guarded by mu; only watched mailboxes
	// accounts holds the account watchers by user (hub_account.go);
	// guarded by mu, created on first use.
	accounts map[string]map[*AccountWatcher]struct{}
}

type hubKey struct {
	user    string
	mailbox MailboxID
}

// hubBox is the Hub's state for one watched mailbox; all guarded by Hub.mu.
type hubBox struct {
	watchers map[*Watcher]struct{}
	highest  ModSeq // highest modseq published since it was first watched
	gen      uint64 // publications that woke the watchers
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
	return &Hub{boxes: make(map[hubKey]*hubBox)}
}

// Watch starts watching a user's mailbox. Close the watcher when done.
func (h *Hub) Watch(user string, id MailboxID) *Watcher {
	c := make(chan struct{}, 1)
	w := &Watcher{C: c, c: c, hub: h, key: hubKey{user, id}}
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.boxes[w.key]
	if b == nil {
		b = &hubBox{watchers: make(map[*Watcher]struct{})}
		h.boxes[w.key] = b
	}
	b.watchers[w] = struct{}{}
	return w
}

// Close stops the watcher. It is safe to call more than once. The last
// watcher of a mailbox to close makes the Hub forget the mailbox.
func (w *Watcher) Close() {
	h := w.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if b := h.boxes[w.key]; b != nil {
		delete(b.watchers, w)
		if len(b.watchers) == 0 {
			delete(h.boxes, w.key)
		}
	}
}

// Generation returns how many publications woke the watchers of w's
// mailbox so far. It only grows while w is open (its value means nothing
// after Close).
func (w *Watcher) Generation() uint64 {
	h := w.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if b := h.boxes[w.key]; b != nil {
		return b.gen
	}
	return 0
}

// Publish wakes every watcher of the mailbox, unless m is not above the
// highest modseq already published for it (see Hub). It never blocks.
func (h *Hub) Publish(user string, id MailboxID, m ModSeq) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.publishAccountLocked(user, id, m)
	b := h.boxes[hubKey{user, id}]
	if b == nil {
		return // nobody watches: nothing to wake, nothing to remember
	}
	if m != 0 {
		if m <= b.highest {
			return // a repeated or late notification
		}
		b.highest = m
	}
	// The count moves before anyone wakes, so a woken watcher that
	// consults a cache keyed on Generation sees the cache as stale.
	b.gen++
	for w := range b.watchers {
		select {
		case w.c <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// Watched returns how many mailboxes have watchers, for metrics and tests.
func (h *Hub) Watched() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.boxes)
}
