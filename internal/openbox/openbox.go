// Package openbox keeps the mailboxes that sessions have open in memory, one
// copy per mailbox shared by every session that has it selected.
//
// # Model
//
// A Box holds the UID, modseq and flags of every message of one mailbox,
// sorted by UID, as of the modseq it has caught up to. It is derived state:
// the store stays the single source of truth, and a Box can be dropped and
// reloaded at any time.
//
// A Box is loaded once with a store Snapshot and then kept current the same
// way every session is: the Box holds a Hub watcher on its mailbox for as
// long as it exists, and when the Hub has published the mailbox since the
// Box last looked (Watcher.Generation moved), it asks the store for the
// changes since its modseq (an O(changes) range scan) and applies them. A
// commit publishes on the Hub before the committing command returns, and
// the generation moves before any watcher is woken, so a session that syncs
// its Box after its own write, or after its own watcher woke, always sees
// that change.
//
// Selecting a mailbox that is already open therefore costs a copy of its
// UID list's chunk index (internal/msglist: the chunks are shared), and
// FETCH of flags reads memory.
//
// When other processes write the same store (store.Shared: several front
// ends on one database), their commits reach this process's Hub only after
// a delay, so an unmoved generation proves nothing: Sync then also reads
// the mailbox's HIGHESTMODSEQ (one row) and catches up when it moved. An
// answer from memory is thus never older than the store was when the
// command started.
//
// # Locking
//
// Registry.mu guards the registry map and each Box's reference count. It is
// never held while the store works: a user's database that is not open yet
// is opened outside it, so one slow open delays only that user's SELECT.
// Box.mu (an RWMutex) guards the message arrays and info; readers take it
// shared. Box.syncMu serializes refreshes so that only one goroutine talks
// to the store for a Box at a time; it is taken before Box.mu, never after.
package openbox

import (
	"container/list"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidemark-mail/tidemark/internal/msglist"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Registry tracks the open mailboxes of a store.
//
// A Box that no session holds any more is kept for a while (idle), so a
// client that reconnects, or a session that selects the same mailbox again,
// finds it in memory: at most IdleBoxes Boxes holding at most IdleMessages
// messages in all, each for at most IdleTime, least recently released
// first out. (Each idle Box keeps its user's store open, and an open store
// watches for other processes' commits, hence the count bound.) An idle Box is
// not refreshed; the next Acquire catches it up with the changes since.
type Registry struct {
	st store.Store
	// IdleMessages bounds the messages held by idle Boxes (about 50 bytes
	// each); IdleTime bounds how long one stays idle. Set before use.
	IdleMessages int
	IdleBoxes    int
	IdleTime     time.Duration

	mu       sync.Mutex
	boxes    map[boxKey]*Box // guarded by mu; held and idle Boxes
	idle     *list.List      // guarded by mu; idle Boxes, least recently released first
	idleMsgs int             // guarded by mu; messages in idle Boxes
	closed   bool            // guarded by mu
	// timer fires when the oldest idle Box's IdleTime is up; nil when no
	// Box is idle. One timer for the registry, re-armed by expire, stopped
	// by Close. Guarded by mu.
	timer *time.Timer
}

// afterFunc is time.AfterFunc; tests count the timers through it.
var afterFunc = time.AfterFunc

type boxKey struct {
	user string
	id   store.MailboxID
}

// Defaults for Registry.IdleMessages, IdleBoxes and IdleTime.
const (
	DefaultIdleMessages = 2_000_000
	DefaultIdleBoxes    = 256
	DefaultIdleTime     = 10 * time.Minute
)

// NewRegistry returns an empty registry over st.
func NewRegistry(st store.Store) *Registry {
	return &Registry{
		st: st, IdleMessages: DefaultIdleMessages, IdleBoxes: DefaultIdleBoxes, IdleTime: DefaultIdleTime,
		boxes: make(map[boxKey]*Box), idle: list.New(),
	}
}

// Close drops every idle Box. Held Boxes close on their last Release.
func (r *Registry) Close() {
	r.mu.Lock()
	r.closed = true
	drop := r.evictLocked(time.Now(), true)
	r.armLocked(time.Now())
	r.mu.Unlock()
	closeAll(drop)
}

// armLocked keeps the expiry timer in step with the idle list: running
// for the oldest idle Box's expiry while one is idle (and the registry is
// open), stopped otherwise.
func (r *Registry) armLocked(now time.Time) {
	front := r.idle.Front()
	if front == nil || r.closed {
		if r.timer != nil {
			r.timer.Stop()
			r.timer = nil
		}
		return
	}
	due := front.Value.(*Box).idleSince.Add(r.IdleTime).Sub(now)
	if r.timer == nil {
		r.timer = afterFunc(due, r.expire)
	} else {
		r.timer.Reset(due)
	}
}

// evictLocked removes idle Boxes beyond the bounds (all of them with
// everything set) and returns them for the caller to close after unlocking.
func (r *Registry) evictLocked(now time.Time, everything bool) []*Box {
	var drop []*Box
	for e := r.idle.Front(); e != nil; e = r.idle.Front() {
		b := e.Value.(*Box)
		if !everything && r.idleMsgs <= r.IdleMessages && r.idle.Len() <= r.IdleBoxes && now.Sub(b.idleSince) < r.IdleTime {
			break
		}
		r.unidleLocked(b)
		delete(r.boxes, b.key)
		drop = append(drop, b)
	}
	return drop
}

func (r *Registry) unidleLocked(b *Box) {
	r.idle.Remove(b.idleElem)
	r.idleMsgs -= b.idleSize
	b.idleElem = nil
}

func closeAll(boxes []*Box) {
	for _, b := range boxes {
		b.watch.Close()
		b.acct.Close()
	}
}

// Box is one open mailbox's message list, shared by the sessions that hold
// it.
type Box struct {
	reg  *Registry
	key  boxKey
	refs int // guarded by reg.mu
	// detached: no longer in reg.boxes (its store was deleted); closed on
	// its last Release. Guarded by reg.mu.
	detached bool
	// While idle (refs == 0): its place in reg.idle, when it became idle and
	// how many messages it holds; all guarded by reg.mu.
	idleElem  *list.Element
	idleSince time.Time
	idleSize  int

	acct  store.Account  // the Box's own handle, so no session's lifetime matters
	watch *store.Watcher // on the Box's mailbox, for as long as the Box exists

	syncMu sync.Mutex // held while loading or refreshing from the store
	loaded bool       // guarded by syncMu
	gen    uint64     // guarded by syncMu; watch.Generation the Box reflects
	// seen is the highest modseq a session showed its client from a store
	// read rather than from the Box (see Saw); while it is above the Box's
	// own, Sync asks the store whatever the Hub says.
	seen atomic.Uint64

	mu   sync.RWMutex
	info store.MailboxInfo // guarded by mu; HighestModSeq is what msgs reflect
	msgs messageList       // guarded by mu
	// recent holds the change batches applied since the last load, oldest
	// first and contiguous (each starts where the previous ended), so that
	// sessions a few steps behind catch up from memory; guarded by mu.
	recent     []batch
	recentSize int // guarded by mu; messages and ranges held in recent

	// claimMu serializes the IMAP4rev1 \Recent claims of the sessions
	// holding the Box (see ClaimRecent); floor is a lower bound of the
	// store's recent floor, the highest any of them saw. Guarded by claimMu.
	claimMu sync.Mutex
	floor   store.UID

	// derived holds values other packages derive from the mailbox and keep
	// with it (see Derived); guarded by derivedMu.
	derivedMu sync.Mutex
	derived   map[any]any
}

// Derived returns the value kept with the Box under key, made by mk the
// first time. Such values (the sort keys of package sortthread) live and
// die with the Box: derived state, dropped with it. The value must guard
// itself against concurrent use by the Box's sessions.
func (b *Box) Derived(key any, mk func() any) any {
	b.derivedMu.Lock()
	defer b.derivedMu.Unlock()
	v, ok := b.derived[key]
	if !ok {
		if b.derived == nil {
			b.derived = make(map[any]any)
		}
		v = mk()
		b.derived[key] = v
	}
	return v
}

// Acquire returns the open Box of a user's mailbox, opening and loading it
// if no session has it open. Each Acquire must be paired with Release.
func (r *Registry) Acquire(ctx context.Context, user string, id store.MailboxID) (*Box, error) {
	k := boxKey{user, id}
	r.mu.Lock()
	b := r.boxes[k]
	var stale *Box
	if b != nil && store.IsRevoked(b.acct) {
		// The user's store was deleted under this Box (and the name may
		// belong to a new account): never hand it out again.
		delete(r.boxes, k)
		b.detached = true
		if b.idleElem != nil {
			r.unidleLocked(b)
			stale = b
		}
		b = nil
	}
	if stale != nil {
		defer closeAll([]*Box{stale})
	}
	if b == nil {
		// Open the user's store without the registry lock (it may be a
		// cold database), then look again: another Acquire may have put
		// a Box there meanwhile, and then this handle is not needed.
		r.mu.Unlock()
		acct, err := r.st.Open(ctx, user)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		if b = r.boxes[k]; b == nil {
			b = &Box{reg: r, key: k, acct: acct, watch: r.st.Hub().Watch(user, id)}
			r.boxes[k] = b
			acct = nil
		}
		if acct != nil {
			defer acct.Close() // after unlocking
		}
	}
	if b.idleElem != nil {
		r.unidleLocked(b)
	}
	b.refs++
	r.mu.Unlock()

	if err := b.Sync(ctx); err != nil {
		b.release(true)
		return nil, err
	}
	return b, nil
}

// Release drops a reference. The last one leaves the Box idle, to be
// dropped later (see Registry).
func (b *Box) Release() { b.release(false) }

// release drops a reference; with broken set a Box nobody holds is dropped
// at once instead of kept idle (its mailbox may be gone).
func (b *Box) release(broken bool) {
	r := b.reg
	now := time.Now()
	r.mu.Lock()
	b.refs--
	var drop []*Box
	if b.refs == 0 {
		if broken || b.detached || r.closed || r.IdleMessages <= 0 || r.IdleBoxes <= 0 {
			if !b.detached {
				delete(r.boxes, b.key)
			}
			drop = append(drop, b)
		} else {
			b.mu.RLock()
			b.idleSize = b.msgs.len()
			b.mu.RUnlock()
			b.idleSince = now
			b.idleElem = r.idle.PushBack(b)
			r.idleMsgs += b.idleSize
		}
	}
	drop = append(drop, r.evictLocked(now, false)...)
	r.armLocked(now) // the oldest idle Box may have changed
	r.mu.Unlock()
	closeAll(drop)
}

// expire drops idle Boxes past their time and re-arms the timer for the
// next one.
func (r *Registry) expire() {
	now := time.Now()
	r.mu.Lock()
	drop := r.evictLocked(now, false)
	r.armLocked(now)
	r.mu.Unlock()
	closeAll(drop)
}

// Open reports how many mailboxes sessions hold, for metrics and tests.
func (r *Registry) Open() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.boxes) - r.idle.Len()
}

// Idle reports how many mailboxes are kept without a session holding them.
func (r *Registry) Idle() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.idle.Len()
}

// Sync brings the Box up to date with the store. It talks to the store only
// when the Hub published the mailbox since the last Sync (or on first load),
// or, for a store other processes write, to read HIGHESTMODSEQ.
func (b *Box) Sync(ctx context.Context) error {
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	// Read the generation before the store: a commit published after this
	// point moves it again and the next Sync looks again.
	gen := b.watch.Generation()
	if !b.loaded {
		return b.syncLoad(ctx, gen)
	}
	b.mu.RLock()
	since := b.info.HighestModSeq
	b.mu.RUnlock()
	if gen == b.gen && uint64(since) >= b.seen.Load() {
		if !store.IsShared(b.reg.st) {
			return nil
		}
		st, err := b.acct.Status(ctx, b.key.id)
		if err != nil {
			return err
		}
		if st.HighestModSeq == since {
			return nil
		}
	}
	ch, err := b.acct.ChangesSince(ctx, b.key.id, since)
	if err != nil {
		return err // b.gen unchanged: the next Sync tries again
	}
	if !ch.Exact {
		// History was pruned past the Box's own modseq while it was open:
		// reload rather than trust a superset.
		return b.syncLoad(ctx, gen)
	}
	b.mu.Lock()
	b.msgs.apply(ch)
	b.info = ch.Mailbox
	b.remember(batch{since: since, ch: ch})
	b.mu.Unlock()
	b.gen = gen
	return nil
}

// Saw tells the Box that a session has shown its client message state at
// modseq m read from the store (FETCH CHANGEDSINCE, FETCH with message
// data). A commit is visible in the store a moment before it is published
// on the Hub; until the Box has caught up, a FETCH or SELECT answered from
// the Box would show that client an older state than it was just shown —
// a MODSEQ going back, HIGHESTMODSEQ below a MODSEQ it saw (RFC 7162 3.1).
// So when m is beyond the Box, the next Sync asks the store.
func (b *Box) Saw(m store.ModSeq) {
	for {
		old := b.seen.Load()
		if uint64(m) <= old || b.seen.CompareAndSwap(old, uint64(m)) {
			return
		}
	}
}

// syncLoad replaces the Box's contents with a fresh snapshot; syncMu is held.
func (b *Box) syncLoad(ctx context.Context, gen uint64) error {
	snap, err := b.acct.Snapshot(ctx, b.key.id)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.info, b.msgs = snap.Mailbox, newMessageList(snap.Messages)
	b.recent, b.recentSize = nil, 0
	b.mu.Unlock()
	b.loaded, b.gen = true, gen
	return nil
}

// Info returns the mailbox's information as of the Box's modseq.
func (b *Box) Info() store.MailboxInfo {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.info
}

// Summary is what SELECT reports about a mailbox's messages.
type Summary struct {
	Messages       int
	FirstUnseenSeq uint32 // sequence number in a fresh view; 0 when all are \Seen
	Unseen         int
	Keywords       []string // every keyword seen, normalized; not to be modified
}

// Current returns, consistently with each other, the mailbox information,
// the UID list, and the SELECT figures, all at the Box's modseq. The UID
// list shares its chunks with the Box (msglist.List.Share): the caller owns
// the copy and may change it. The figures are kept current as changes
// arrive, so Current costs the same for any mailbox size but for one entry
// per chunk of the list.
func (b *Box) Current() (store.MailboxInfo, msglist.List[store.UID], Summary) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.info, b.msgs.sharedUIDs(), b.summaryLocked()
}

func (b *Box) summaryLocked() Summary {
	s := Summary{Messages: b.msgs.len(), Unseen: b.msgs.unseen, Keywords: b.msgs.keywords}
	if b.msgs.firstUnseen != 0 {
		i, _ := b.msgs.search(b.msgs.firstUnseen)
		s.FirstUnseenSeq = uint32(i + 1)
	}
	return s
}

// Each calls fn, under the Box's read lock, for every message whose UID is
// in uids, in ascending UID order. fn must not block or call into the Box,
// and must not keep m: it is reused from one call to the next.
func (b *Box) Each(uids store.UIDSet, fn func(m *store.MessageState)) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var m store.MessageState
	for _, r := range uids {
		b.msgs.each(r, func(e *store.MessageState) bool {
			m = *e
			fn(&m)
			return true
		})
	}
}

// Acquire adds a reference to a Box already held, so it outlives the
// holder's own Release.
func (b *Box) Acquire() {
	b.reg.mu.Lock()
	b.refs++
	b.reg.mu.Unlock()
}

// Deleted returns the UIDs of messages flagged \Deleted, read from memory.
func (b *Box) Deleted() store.UIDSet {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var set store.UIDSet
	if b.msgs.deleted == 0 {
		return set
	}
	b.msgs.each(store.UIDRange{Start: 1, Stop: store.MaxUID}, func(m *store.MessageState) bool {
		if m.Flags.System&store.FlagDeleted != 0 {
			set.Add(m.UID)
		}
		return true
	})
	return set
}

// maxDeletedProbe bounds the messages DeletedIn looks at: past it, with
// some message \Deleted, it answers "maybe" (true) and lets the store,
// which decides anyway, look.
const maxDeletedProbe = 256

// DeletedIn reports whether some message with a UID in scope (nil: any)
// may carry \Deleted. False is exact; true may be a guess once scope spans
// more than maxDeletedProbe messages, so the answer costs the same in a
// mailbox of any size (an EXPUNGE asks it before going to the store).
func (b *Box) DeletedIn(scope store.UIDSet) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.msgs.deleted == 0 {
		return false
	}
	if scope == nil {
		return true
	}
	probed, found := 0, false
	for _, r := range scope {
		if !b.msgs.each(r, func(m *store.MessageState) bool {
			probed++
			found = m.Flags.System&store.FlagDeleted != 0 || probed > maxDeletedProbe
			return !found
		}) {
			break
		}
	}
	return found
}

// A batch is one ChangesSince answer the Box applied: the changes after
// modseq since, up to ch.Mailbox.HighestModSeq.
type batch struct {
	since store.ModSeq
	ch    store.Changes
}

func (bt batch) size() int { return len(bt.ch.Changed) + len(bt.ch.Vanished) }

// Bounds on the memory kept for catching sessions up; past them the oldest
// batches go, and a session further behind asks the store.
const (
	maxRecentBatches = 256
	maxRecentSize    = 1 << 18
)

// remember appends a batch to the recent log, dropping the oldest ones
// beyond the bounds; mu is held for writing.
func (b *Box) remember(bt batch) {
	b.recent = append(b.recent, bt)
	b.recentSize += bt.size()
	for len(b.recent) > maxRecentBatches || (b.recentSize > maxRecentSize && len(b.recent) > 1) {
		b.recentSize -= b.recent[0].size()
		b.recent[0] = batch{}
		b.recent = b.recent[1:]
	}
	if b.recentSize > maxRecentSize {
		b.recent, b.recentSize = nil, 0
	}
}

// ChangesSince answers "what changed after modseq since" from memory, as
// the store would, when the Box's recent log reaches back to since exactly
// (a session's shown modseq always falls on a batch boundary when the
// session is fed from the Box). ok is false when the caller must ask the
// store. The result must not be modified.
func (b *Box) ChangesSince(since store.ModSeq) (ch store.Changes, ok bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if since == b.info.HighestModSeq {
		return store.Changes{Mailbox: b.info, Exact: true}, true
	}
	first := -1
	for i, bt := range b.recent {
		if bt.since == since {
			first = i
			break
		}
	}
	if first < 0 {
		return store.Changes{}, false
	}
	if first == len(b.recent)-1 {
		return b.recent[first].ch, true
	}
	// Several batches: later states win, and a message expunged in a later
	// batch is only reported as vanished (UIDs are never reused).
	states := make(map[store.UID]store.MessageState)
	var vanished store.UIDSet
	for _, bt := range b.recent[first:] {
		for _, r := range bt.ch.Vanished {
			vanished.AddRange(r.Start, r.Stop)
		}
		for _, m := range bt.ch.Changed {
			states[m.UID] = m
		}
	}
	changed := make([]store.MessageState, 0, len(states))
	for uid, m := range states {
		if !vanished.Contains(uid) {
			changed = append(changed, m)
		}
	}
	slices.SortFunc(changed, func(x, y store.MessageState) int { return int(int64(x.UID) - int64(y.UID)) })
	return store.Changes{Mailbox: b.info, Changed: changed, Vanished: vanished, Exact: true}, true
}

// Committed hands the Box the changes of a commit the caller just made
// (a flag change: the messages it changed, with their new state, all at
// modseq m), so the Box need not read them back from the store. It applies
// them only when they are exactly the next step: the Box stands at the
// modseq before m and the Hub has published nothing since the Box last
// looked but this commit. Otherwise it does nothing and the next Sync asks
// the store as usual.
func (b *Box) Committed(m store.ModSeq, changed []store.MessageState) {
	b.committed(m, store.Changes{Changed: changed, Exact: true})
}

// CommittedExpunge is Committed for an expunge the caller just made: the
// messages gone, ascending, all at modseq m. An EXPUNGE's own sync point
// then reads nothing back from the store (a range scan of the chunks and
// tombstones above the Box's modseq), and neither do the other sessions
// of the mailbox told of it.
func (b *Box) CommittedExpunge(m store.ModSeq, gone []store.UID) {
	var vanished store.UIDSet
	for _, u := range gone {
		vanished.Add(u)
	}
	b.committed(m, store.Changes{Vanished: vanished, Exact: true})
}

// CommittedAppend is Committed for an append the caller just made of
// messages without flags (the usual APPEND): their UIDs, ascending, all at
// modseq m. A message appended with flags is left to the next Sync, which
// reads the flags as the store keeps them.
func (b *Box) CommittedAppend(m store.ModSeq, uids []store.UID) {
	if len(uids) == 0 {
		return
	}
	added := make([]store.MessageState, len(uids))
	for i, u := range uids {
		added[i] = store.MessageState{UID: u, ModSeq: m}
	}
	b.committed(m, store.Changes{Changed: added, Exact: true})
}

// committed applies ch, the changes of the commit at m, when that commit
// is exactly the Box's next step. Changes above the Box's UIDNEXT (an
// append) move it past them.
func (b *Box) committed(m store.ModSeq, ch store.Changes) {
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	if !b.loaded || m == 0 {
		return
	}
	gen := b.watch.Generation()
	b.mu.Lock()
	defer b.mu.Unlock()
	since := b.info.HighestModSeq
	if since+1 != m || gen != b.gen+1 {
		return
	}
	info := b.info
	info.HighestModSeq = m
	if n := len(ch.Changed); n > 0 && ch.Changed[n-1].UID >= info.UIDNext {
		info.UIDNext = ch.Changed[n-1].UID + 1
	}
	ch.Mailbox = info
	b.msgs.apply(ch)
	b.info = info
	b.remember(batch{since: since, ch: ch})
	b.gen = gen
}

// ClaimRecent runs an IMAP4rev1 \Recent claim up to upTo for a session
// holding the Box, so that the sessions of one mailbox share the work: when
// a commit adds messages, every session in IDLE wakes and claims, and
// without this each would ask the store (10,000 sessions, 10,000 queries
// for one APPEND). Claims of one Box run one at a time; the store's recent
// floor only goes up, so once one of them has seen it at upTo or beyond,
// the others know the messages below it are claimed and are answered from
// memory: claim is not called and prev is that floor.
//
// claim asks the store (store.RecentStore.ClaimRecent) and returns the
// floor before it and the floor it leaves, as far as the caller knows.
func (b *Box) ClaimRecent(upTo store.UID, claim func() (prev, after store.UID, err error)) (prev store.UID, err error) {
	b.claimMu.Lock()
	defer b.claimMu.Unlock()
	if upTo <= b.floor {
		return b.floor, nil
	}
	prev, after, err := claim()
	if err != nil {
		return prev, err
	}
	b.floor = max(b.floor, prev, after)
	return prev, nil
}

// MailboxID is the mailbox the Box holds.
func (b *Box) MailboxID() store.MailboxID { return b.key.id }
