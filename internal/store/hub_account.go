package store

// Account watchers: NOTIFY (RFC 5465) follows every mailbox of a user, and
// changes to the account itself (mailboxes created, renamed or deleted,
// subscriptions, server metadata). Watching each mailbox separately would
// cost a Hub entry per mailbox per session; an AccountWatcher is one entry
// per session, woken by every publication for its user, and keeps the set
// of mailboxes published since it last looked. Publish costs one map
// lookup more per commit, plus one wake-up per account watcher of the
// user, as a mailbox watcher costs for IDLE.

// AccountID is the mailbox id under which a backend publishes a change to
// the account rather than to one mailbox's messages: a mailbox created,
// renamed or deleted, a subscription, a server metadata entry. Such
// publications carry modseq 0 and carry no detail: a woken watcher
// compares the account with what it last saw.
const AccountID MailboxID = 0

// AccountWatcher receives wake-ups for every mailbox of one user.
type AccountWatcher struct {
	// C has a value whenever something was published since the last
	// Take.
	C    <-chan struct{}
	c    chan struct{}
	hub  *Hub
	user string
	// pending lists the mailboxes published since the last Take, in the
	// order of their first publication, with the highest modseq published
	// (0 when none carried one); index finds a mailbox in it. Guarded by
	// hub.mu.
	pending []AccountChange
	index   map[MailboxID]int
}

// AccountChange is one mailbox an AccountWatcher heard of.
type AccountChange struct {
	ID     MailboxID
	ModSeq ModSeq
}

// WatchAccount starts watching every mailbox of user and the account
// itself. Close the watcher when done.
func (h *Hub) WatchAccount(user string) *AccountWatcher {
	c := make(chan struct{}, 1)
	w := &AccountWatcher{C: c, c: c, hub: h, user: user, index: make(map[MailboxID]int)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.accounts == nil {
		h.accounts = make(map[string]map[*AccountWatcher]struct{})
	}
	ws := h.accounts[user]
	if ws == nil {
		ws = make(map[*AccountWatcher]struct{})
		h.accounts[user] = ws
	}
	ws[w] = struct{}{}
	return w
}

// Take returns the mailboxes published since the last Take, in the order
// they were first published, with the highest modseq published for each
// (0 when none carried one, as for AccountID or a deletion), and forgets
// them.
func (w *AccountWatcher) Take() []AccountChange {
	h := w.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(w.pending) == 0 {
		return nil
	}
	p := w.pending
	w.pending = nil
	clear(w.index)
	return p
}

// Close stops the watcher; safe to call more than once.
func (w *AccountWatcher) Close() {
	h := w.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if ws := h.accounts[w.user]; ws != nil {
		delete(ws, w)
		if len(ws) == 0 {
			delete(h.accounts, w.user)
		}
	}
}

// publishAccountLocked records a publication for the user's account
// watchers and wakes them. A repeated or late publication is recorded
// too: account watchers compare what they are told with what they last
// reported, so it costs a comparison, never a second report.
func (h *Hub) publishAccountLocked(user string, id MailboxID, m ModSeq) {
	for w := range h.accounts[user] {
		if i, ok := w.index[id]; ok {
			w.pending[i].ModSeq = max(w.pending[i].ModSeq, m)
		} else {
			w.index[id] = len(w.pending)
			w.pending = append(w.pending, AccountChange{id, m})
		}
		select {
		case w.c <- struct{}{}:
		default:
		}
	}
}

// AccountsWatched returns how many users have account watchers, for tests.
func (h *Hub) AccountsWatched() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.accounts)
}
