// Package view is the selected mailbox as one IMAP session sees it: the
// map between message sequence numbers and UIDs, the modseq up to which the
// session has told its client everything, and what it still has to tell.
//
// # Model
//
// A view changes only at sync points. It is built from a store.Snapshot
// when the session selects a mailbox and advanced by applying the
// store.Changes since the modseq it has shown (principle 5 of the design:
// every session is a QRESYNC client of the store). Apply turns those
// changes into Updates that the server writes as untagged responses:
//
//   - new messages grow the sequence map and yield one EXISTS;
//   - flag changes of known messages yield FETCH (FLAGS [MODSEQ]);
//   - expunges yield EXPUNGE (sequence numbers, highest first so each one
//     is valid when it is read) or, under QRESYNC, one VANISHED set.
//
// Expunges are sent only when the command being answered allows them
// (RFC 9051 7.4.1 and 5.5: never during FETCH, STORE or SEARCH, nor during
// a command that relies on sequence numbers). Until then they are held:
// the expunged message keeps its sequence number, EXISTS counts it, and
// commands that reach it find nothing in the store, so FETCH simply omits
// it and STORE leaves it alone (one of the behaviours RFC 2180 4.1 allows).
// Flag changes and EXISTS are not held back.
//
// The view is a plain data structure owned by one session's goroutine;
// it does no locking. Its only input is a Snapshot plus Changes, so where
// they come from (the store, or a shared in-memory copy of open
// mailboxes) is invisible to it.
package view

import (
	"errors"
	"slices"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/msglist"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// ErrBadSeq is returned for a sequence number above the number of
// messages in the view (RFC 9051 9 seq-number: "a number ... greater than
// the number of messages ... is an error").
var ErrBadSeq = errors.New("invalid message sequence number")

// View is one session's picture of its selected mailbox.
type View struct {
	// Mailbox is the mailbox as of the last sync.
	Mailbox store.MailboxInfo
	// ReadOnly is set for EXAMINE, or a mailbox the user may not change.
	ReadOnly bool

	uids    msglist.List[store.UID] // entry seq-1 is seq's UID; ascending; includes held expunges
	shown   store.ModSeq            // changes up to here have been applied
	pending store.UIDSet            // expunged in the store, not yet reported
	// heldAfter is the shown modseq at the moment the oldest expunge in
	// pending was first held: every held expunge has a modseq above it,
	// and everything at or below it has been reported.
	heldAfter store.ModSeq
	// reported holds messages whose state up to the given modseq the client
	// has already been told by the command that changed it (STORE), so the
	// next sync does not repeat it: a few UID sets (one per STORE since the
	// last sync), not an entry per message, so a STORE over a whole
	// mailbox records one range.
	reported []reportedAt
	keywords []string // keywords announced in FLAGS, lower-case, sorted
}

// New builds a view of a snapshot.
func New(snap store.Snapshot, readOnly bool) *View {
	uids := make([]store.UID, len(snap.Messages))
	var keywords []string
	for i, m := range snap.Messages {
		uids[i] = m.UID
		keywords = append(keywords, m.Flags.Keywords...)
	}
	return NewFromUIDs(snap.Mailbox, uids, store.NormalizeKeywords(keywords), readOnly)
}

// NewFromUIDs builds a view from a mailbox's ascending UID list at
// info.HighestModSeq, and the keywords in use (normalized). The view keeps
// uids: the caller must not write to it again. keywords is copied.
func NewFromUIDs(info store.MailboxInfo, uids []store.UID, keywords []string, readOnly bool) *View {
	return NewFromList(info, msglist.UIDs(uids), keywords, readOnly)
}

// NewFromList is NewFromUIDs for a chunked UID list, typically a copy of
// the open mailbox's (msglist.List.Share): chunks are shared, never written,
// so a SELECT of a mailbox held in memory copies no UIDs.
func NewFromList(info store.MailboxInfo, uids msglist.List[store.UID], keywords []string, readOnly bool) *View {
	return &View{
		Mailbox:  info,
		ReadOnly: readOnly,
		uids:     uids,
		shown:    info.HighestModSeq,
		// The caller's list may be shared with other views (the open
		// mailbox hands the same one to every SELECT) and the view inserts
		// into its own: copy it.
		keywords: slices.Clone(keywords),
	}
}

func compareFold(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) }

// Exists is the number of messages the client knows of (EXISTS), held
// expunges included.
func (v *View) Exists() uint32 { return uint32(v.uids.Len()) }

// ShownModSeq is the modseq up to which changes have been applied.
func (v *View) ShownModSeq() store.ModSeq { return v.shown }

// SafeModSeq is the highest modseq the client may be given as
// HIGHESTMODSEQ: every change at or below it has been reported. It is
// ShownModSeq unless expunges are held, in which case it stays below the
// oldest held expunge (RFC 7162 3.2: a HIGHESTMODSEQ sent while EXPUNGE or
// VANISHED responses are delayed must be lower than their modseq, or a
// client that loses the connection would never learn of them).
func (v *View) SafeModSeq() store.ModSeq {
	if v.pending.Empty() {
		return v.shown
	}
	return v.heldAfter
}

// Holding reports whether expunges are being held back.
func (v *View) Holding() bool { return !v.pending.Empty() }

// Keywords lists the keywords announced to the client in FLAGS.
func (v *View) Keywords() []string { return v.keywords }

// UID returns the UID of sequence number seq.
func (v *View) UID(seq uint32) (store.UID, bool) {
	if seq == 0 || int(seq) > v.uids.Len() {
		return 0, false
	}
	return v.uids.At(int(seq - 1)), true
}

// Seq returns the sequence number of uid, if the view holds it.
func (v *View) Seq(uid store.UID) (uint32, bool) {
	i, ok := v.uids.Search(uid)
	return uint32(i + 1), ok
}

// HighestUID is the UID of the last message in the view (0 when empty):
// what "*" means in a UID set.
func (v *View) HighestUID() store.UID {
	u, _ := v.uids.Last()
	return u
}

// CountIn returns how many messages of the view have a UID in set.
func (v *View) CountIn(set store.UIDSet) uint32 {
	var n uint32
	for _, r := range set {
		n += v.rank(r.Stop) - v.rank(r.Start-1)
	}
	return n
}

// Expunged reports whether uid was expunged in the store but is still
// shown because the expunge has not been reported yet.
func (v *View) Expunged(uid store.UID) bool { return v.pending.Contains(uid) }

// SeqSetUIDs converts a client's sequence-number set into the UIDs it
// names. "*" is the last message; a number above it is ErrBadSeq. In an
// empty mailbox a set made only of "*" names nothing.
func (v *View) SeqSetUIDs(s wire.SeqSet) (store.UIDSet, error) {
	n := uint32(v.uids.Len())
	nums := s.Resolve(n)
	if len(nums) > 0 && uint32(nums[len(nums)-1].Stop) > n {
		if n == 0 && s.HasStar() && onlyStars(s) {
			return nil, nil
		}
		return nil, ErrBadSeq
	}
	return uidsOfSeqs(&v.uids, nums), nil
}

// SearchSeqSetUIDs converts a sequence set used as a search key: numbers
// above the last message name nothing, rather than being an error. A
// search key is a criterion, not a reference to a message, and a client's
// idea of the mailbox's size may be stale (Dovecot answers the same).
func (v *View) SearchSeqSetUIDs(s wire.SeqSet) store.UIDSet {
	n := store.UID(v.uids.Len())
	var nums store.UIDSet
	for _, r := range s.Resolve(uint32(n)) {
		if r.Start < 1 {
			r.Start = 1
		}
		if r.Start > n || r.Start > r.Stop {
			continue
		}
		r.Stop = min(r.Stop, n)
		nums = append(nums, r)
	}
	return uidsOfSeqs(&v.uids, nums)
}

func onlyStars(s wire.SeqSet) bool {
	for _, r := range s.Ranges {
		if r.Start != wire.Star && r.Stop != wire.Star {
			return false
		}
	}
	return true
}

// UIDSetUIDs resolves a client's UID set: "*" is the highest UID in the
// view, and UIDs above it are dropped, so a command never reaches a message
// the client has not been told exists (it learns of it at the next sync).
// UIDs in between that do not exist match nothing in the store.
func (v *View) UIDSetUIDs(s wire.SeqSet) store.UIDSet {
	hi := v.HighestUID()
	set := s.UIDSet(hi)
	for len(set) > 0 && set[len(set)-1].Start > hi {
		set = set[:len(set)-1]
	}
	if n := len(set); n > 0 && set[n-1].Stop > hi {
		set[n-1].Stop = hi
	}
	return set
}

// reportedAt is a set of messages told of up to modseq.
type reportedAt struct {
	uids   store.UIDSet
	modseq store.ModSeq
}

// MarkReported records that the client has been told uid's state as of
// modseq by the command that made the change, so the next sync skips it.
// Calls for one modseq should come in ascending UID order (then each is an
// append to a range).
func (v *View) MarkReported(uid store.UID, modseq store.ModSeq) {
	if modseq <= v.shown {
		return
	}
	if n := len(v.reported); n > 0 && v.reported[n-1].modseq == modseq {
		r := &v.reported[n-1].uids
		if k := len(*r); k > 0 && (*r)[k-1].Stop+1 == uid {
			(*r)[k-1].Stop = uid // the usual case, without a search
		} else {
			r.Add(uid)
		}
		return
	}
	v.reported = append(v.reported, reportedAt{uids: store.UIDSetOf(uid), modseq: modseq})
}

// reportedCursor answers "was the client told of uid at or after modseq"
// for UIDs asked in ascending order, in one pass over the recorded sets.
type reportedCursor struct {
	sets []reportedAt
	at   []int
}

func (v *View) reportedCursor() reportedCursor {
	return reportedCursor{sets: v.reported, at: make([]int, len(v.reported))}
}

// told returns the highest modseq up to which the client was told of uid
// (0: not told).
func (rc *reportedCursor) told(uid store.UID) store.ModSeq {
	var m store.ModSeq
	for i := range rc.sets {
		s := rc.sets[i].uids
		j := rc.at[i]
		for j < len(s) && s[j].Stop < uid {
			j++
		}
		rc.at[i] = j
		if j < len(s) && s[j].Start <= uid {
			m = max(m, rc.sets[i].modseq)
		}
	}
	return m
}

// SeqCursor maps UIDs, asked in ascending order, to sequence numbers in
// one pass over the view (a response to a STORE over a whole mailbox
// costs a step per message, not a search). The view must not change while
// it is used.
type SeqCursor struct{ c msglist.Cursor[store.UID] }

// SeqCursor returns a cursor at the start of the view.
func (v *View) SeqCursor() *SeqCursor { return &SeqCursor{c: v.uids.Cursor()} }

// Seq returns uid's sequence number, if the view holds it; uid must be
// above the one asked before.
func (sc *SeqCursor) Seq(uid store.UID) (uint32, bool) {
	i, ok := sc.c.Find(uid)
	return uint32(i + 1), ok
}

// AddKeywords records keywords that a command is about to show in FETCH
// responses it writes itself (STORE), and reports whether any was new to
// the client: the caller then announces Keywords in FLAGS first
// (RFC 9051 7.3.5), and the next sync does not announce them again.
func (v *View) AddKeywords(kws []string) bool {
	added := false
	for _, k := range kws {
		if i, found := slices.BinarySearchFunc(v.keywords, k, compareFold); !found {
			v.keywords = slices.Insert(v.keywords, i, k)
			added = true
		}
	}
	return added
}

// uidsOfSeqs maps sorted sequence ranges onto the UIDs they cover, merging
// runs of consecutive UIDs as it goes (ranges arrive ascending, so the
// result is built by appending).
func uidsOfSeqs(uids *msglist.List[store.UID], nums store.UIDSet) store.UIDSet {
	var out store.UIDSet
	for _, r := range nums {
		left := int(r.Stop - r.Start + 1)
		uids.Scan(int(r.Start-1), func(_ int, part []store.UID) bool {
			part = part[:min(len(part), left)]
			left -= len(part)
			for _, u := range part {
				if n := len(out); n > 0 && out[n-1].Stop+1 == u {
					out[n-1].Stop = u
				} else {
					out = append(out, store.UIDRange{Start: u, Stop: u})
				}
			}
			return left > 0
		})
	}
	return out
}
