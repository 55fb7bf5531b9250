package openbox

import (
	"slices"
	"sort"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/msglist"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// messageList is a mailbox's messages in ascending UID order, with the
// figures SELECT reports kept current as changes are applied, so that
// neither SELECT nor a sync ever rescans the mailbox.
//
// Both lists are chunked (internal/msglist): applying a batch of changes
// costs O(changes · log n), plus, when messages vanished, the rebuilding
// of the chunks that held them and one pass over the chunk index — not a
// move or copy of the whole mailbox, so an expunge costs the same in a
// mailbox of any size.
//
// The UID list is shared with the views of the sessions that selected the
// mailbox (sharedUIDs); msglist never writes a chunk another copy can see.
type messageList struct {
	uids msglist.List[store.UID]
	ents msglist.List[store.MessageState] // the same messages, with modseq and flags; never shared

	unseen      int       // messages without \Seen
	deleted     int       // messages with \Deleted
	firstUnseen store.UID // lowest UID without \Seen; 0 when none
	// keywords holds every keyword seen since the list was loaded,
	// normalized; it only grows (a FLAGS list may name a keyword no
	// message carries any more, as other servers' do).
	keywords []string
}

func stateUID(m store.MessageState) store.UID { return m.UID }

// newMessageList takes over msgs (the caller must not use it again).
func newMessageList(msgs []store.MessageState) messageList {
	uids := make([]store.UID, len(msgs))
	l := messageList{}
	for i, m := range msgs {
		uids[i] = m.UID
		l.count(m.UID, m.Flags, 1)
		l.addKeywords(m.Flags.Keywords)
	}
	l.uids = msglist.UIDs(uids)
	l.ents = msglist.New(msgs, stateUID)
	return l
}

func (l *messageList) len() int { return l.uids.Len() }

// sharedUIDs returns the UID list for a reader that keeps it.
func (l *messageList) sharedUIDs() msglist.List[store.UID] { return l.uids.Share() }

// search returns the index of the first message whose UID is >= uid.
func (l *messageList) search(uid store.UID) (int, bool) {
	return l.uids.Search(uid)
}

// each calls fn for every message with a UID in r, in order, until fn
// returns false.
func (l *messageList) each(r store.UIDRange, fn func(m *store.MessageState) bool) bool {
	i, _ := l.ents.Search(r.Start)
	more := true
	l.ents.Scan(i, func(_ int, part []store.MessageState) bool {
		for k := range part {
			if part[k].UID > r.Stop {
				return false
			}
			if !fn(&part[k]) {
				more = false
				return false
			}
		}
		return true
	})
	return more
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
	// Changed is ascending by UID: first the messages at or below the
	// highest UID held (flag changes, found in one pass over the list, or
	// rarely a message the list lacks), then new ones above it.
	last, _ := l.uids.Last()
	split := sort.Search(len(ch.Changed), func(i int) bool { return ch.Changed[i].UID > last })
	known := ch.Changed[:split]
	found := 0
	l.ents.Locate(len(known), func(k int) store.UID { return known[k].UID }, func(k, _ int, m *store.MessageState) {
		c := known[k]
		l.count(m.UID, m.Flags, -1)
		if m.UID == l.firstUnseen && c.Flags.System&store.FlagSeen != 0 {
			firstGone = true
		}
		*m = c
		l.count(c.UID, c.Flags, 1)
		l.addKeywords(c.Flags.Keywords)
		found++
	})
	if found < len(known) {
		for _, c := range known {
			if i, ok := l.ents.Search(c.UID); !ok {
				l.uids.Insert(i, c.UID)
				l.ents.Insert(i, c)
				l.count(c.UID, c.Flags, 1)
				l.addKeywords(c.Flags.Keywords)
			}
		}
	}
	for _, c := range ch.Changed[split:] {
		l.uids.Append(c.UID)
		l.ents.Append(c)
		l.count(c.UID, c.Flags, 1)
		l.addKeywords(c.Flags.Keywords)
	}
	if firstGone {
		l.findFirstUnseen()
	}
}

// remove deletes the messages whose UIDs are in gone and reports whether
// the first unseen message was among them.
func (l *messageList) remove(gone store.UIDSet) (firstGone bool) {
	l.uids.Remove(gone, nil)
	l.ents.Remove(gone, func(_ int, m store.MessageState) {
		l.count(m.UID, m.Flags, -1)
		firstGone = firstGone || m.UID == l.firstUnseen
	})
	return firstGone
}

// findFirstUnseen moves firstUnseen forward from where it was to the next
// message without \Seen.
func (l *messageList) findFirstUnseen() {
	i, _ := l.ents.Search(l.firstUnseen)
	l.firstUnseen = 0
	l.ents.Scan(i, func(_ int, part []store.MessageState) bool {
		for k := range part {
			if part[k].Flags.System&store.FlagSeen == 0 {
				l.firstUnseen = part[k].UID
				return false
			}
		}
		return true
	})
}
