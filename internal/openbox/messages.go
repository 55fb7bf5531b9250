package openbox

import (
	"slices"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// messageList is a mailbox's messages as parallel arrays in ascending UID
// order, with the figures SELECT reports kept current as changes are
// applied, so that neither SELECT nor a sync ever rescans the mailbox.
//
// Applying a batch of changes costs O(changes · log n) plus, when messages
// vanished, one move of the entries behind the first of them and one copy
// of the UID list.
//
// The UID array is shared with the views of the sessions that selected the
// mailbox (sharedUIDs), so it is never written in place below its length:
// messages are appended past it, and removals build a new array.
type messageList struct {
	uids    []store.UID
	modseqs []store.ModSeq
	flags   []store.Flags

	unseen      int       // messages without \Seen
	deleted     int       // messages with \Deleted
	firstUnseen store.UID // lowest UID without \Seen; 0 when none
	// keywords holds every keyword seen since the list was loaded,
	// normalized; it only grows (a FLAGS list may name a keyword no
	// message carries any more, as other servers' do).
	keywords []string
}

func newMessageList(msgs []store.MessageState) messageList {
	l := messageList{
		uids:    make([]store.UID, len(msgs)),
		modseqs: make([]store.ModSeq, len(msgs)),
		flags:   make([]store.Flags, len(msgs)),
	}
	for i, m := range msgs {
		l.uids[i], l.modseqs[i], l.flags[i] = m.UID, m.ModSeq, m.Flags
		l.count(m.UID, m.Flags, 1)
		l.addKeywords(m.Flags.Keywords)
	}
	return l
}

func (l *messageList) len() int { return len(l.uids) }

// sharedUIDs returns the UID list for a reader that keeps it: capacity is
// cut at the length so an append by the reader cannot reach into entries
// the list adds later.
func (l *messageList) sharedUIDs() []store.UID { return l.uids[:len(l.uids):len(l.uids)] }

// search returns the index of the first message whose UID is >= uid.
func (l *messageList) search(uid store.UID) (int, bool) {
	return slices.BinarySearch(l.uids, uid)
}

func (l *messageList) state(i int) store.MessageState {
	return store.MessageState{UID: l.uids[i], ModSeq: l.modseqs[i], Flags: l.flags[i]}
}

// count adds (sign 1) or removes (sign -1) a message's part in the
// counters. firstUnseen is only lowered here; raising it is apply's job.
func (l *messageList) count(uid store.UID, f store.Flags, sign int) {
	if f.System&store.FlagSeen == 0 {
		l.unseen += sign
		if sign > 0 && (l.firstUnseen == 0 || uid < l.firstUnseen) {
			l.firstUnseen = uid
		}
	}
	if f.System&store.FlagDeleted != 0 {
		l.deleted += sign
	}
}

// addKeywords records keywords not seen before. The list is replaced, not
// changed in place, so a copy handed out earlier stays valid.
func (l *messageList) addKeywords(kws []string) {
	for _, k := range kws {
		if _, found := slices.BinarySearchFunc(l.keywords, k, compareFold); !found {
			l.keywords = store.NormalizeKeywords(append(slices.Clone(l.keywords), kws...))
			return
		}
	}
}

func compareFold(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) }

// apply merges ch, the changes after the list's modseq, into the list.
func (l *messageList) apply(ch store.Changes) {
	firstGone := false
	if len(ch.Vanished) > 0 {
		firstGone = l.remove(ch.Vanished)
	}
	for _, c := range ch.Changed {
		n := l.len()
		if n == 0 || l.uids[n-1] < c.UID {
			// New messages have UIDs above every existing one.
			l.uids = append(l.uids, c.UID)
			l.modseqs = append(l.modseqs, c.ModSeq)
			l.flags = append(l.flags, c.Flags)
		} else if i, found := l.search(c.UID); found {
			l.count(l.uids[i], l.flags[i], -1)
			if l.uids[i] == l.firstUnseen && c.Flags.System&store.FlagSeen != 0 {
				firstGone = true
			}
			l.modseqs[i], l.flags[i] = c.ModSeq, c.Flags
		} else {
			// Never in place: views may share the array (see uidsShared).
			l.uids = slices.Insert(slices.Clone(l.uids), i, c.UID)
			l.modseqs = slices.Insert(l.modseqs, i, c.ModSeq)
			l.flags = slices.Insert(l.flags, i, c.Flags)
		}
		l.count(c.UID, c.Flags, 1)
		l.addKeywords(c.Flags.Keywords)
	}
	if firstGone {
		l.findFirstUnseen()
	}
}

// remove deletes the messages whose UIDs are in gone and reports whether
// the first unseen message was among them. Entries before the first removed
// one stay where they are; the rest move down once.
func (l *messageList) remove(gone store.UIDSet) (firstGone bool) {
	w, r := -1, 0          // write position (-1 until the first removal), next unread entry
	var uids []store.UID   // the kept UIDs, in a new array: views may share the old one
	keep := func(to int) { // move entries r..to-1 down to w
		uids = append(uids, l.uids[r:to]...)
		copy(l.modseqs[w:], l.modseqs[r:to])
		copy(l.flags[w:], l.flags[r:to])
		w += to - r
	}
	for _, rg := range gone {
		lo, _ := l.search(rg.Start)
		hi := lo
		for hi < l.len() && l.uids[hi] <= rg.Stop {
			hi++
		}
		if lo == hi {
			continue
		}
		if w < 0 {
			w, r = lo, lo
			uids = make([]store.UID, lo, l.len())
			copy(uids, l.uids[:lo])
		}
		// Entries lo..hi-1 are still intact: keep writes only below lo.
		keep(lo)
		for i := lo; i < hi; i++ {
			l.count(l.uids[i], l.flags[i], -1)
			firstGone = firstGone || l.uids[i] == l.firstUnseen
		}
		r = hi
	}
	if w < 0 {
		return false
	}
	n := l.len()
	keep(n)
	clear(l.flags[w:n]) // let the collector have the keyword slices
	l.uids, l.modseqs, l.flags = uids, l.modseqs[:w], l.flags[:w]
	return firstGone
}

// findFirstUnseen moves firstUnseen forward from where it was to the next
// message without \Seen.
func (l *messageList) findFirstUnseen() {
	i, _ := l.search(l.firstUnseen)
	l.firstUnseen = 0
	for ; i < l.len(); i++ {
		if l.flags[i].System&store.FlagSeen == 0 {
			l.firstUnseen = l.uids[i]
			return
		}
	}
}
