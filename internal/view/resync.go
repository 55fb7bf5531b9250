package view

import (
	"errors"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// This file answers a reconnecting client: SELECT/EXAMINE (QRESYNC ...)
// (RFC 7162 3.2.5) and UID FETCH (CHANGEDSINCE m VANISHED) (3.2.6). Both
// take the store's Changes since the client's modseq and narrow them to what
// the client can know of and has not been told.

// ErrSeqMatch is returned for seq-match-data that cannot be paired: sets of
// different sizes, "*", or numbers not in ascending order (RFC 7162 7).
var ErrSeqMatch = errors.New("invalid QRESYNC sequence match data")

// SeqMatch is RFC 7162 3.2.5.2 message sequence match data: pairs of a
// message sequence number and the UID the client had at that number, taken
// from the client's state at the modseq it presents. It is kept as runs in
// which both the number and the UID step by one, so a client's long set
// ("1:5000 1:5000") costs one run, not 5,000 pairs.
type SeqMatch struct {
	runs []matchRun
}

// matchRun is the pairs (Seq+i, UID+i) for i in 0..Len-1.
type matchRun struct {
	Seq uint32
	UID store.UID
	Len uint32
}

// NewSeqMatch pairs known-sequence-set with known-uid-set, element by
// element in ascending order. The work is proportional to the number of
// ranges in the two sets, never to the numbers they span.
func NewSeqMatch(seqs, uids wire.SeqSet) (*SeqMatch, error) {
	a, err := ascendingRanges(seqs)
	if err != nil {
		return nil, err
	}
	b, err := ascendingRanges(uids)
	if err != nil {
		return nil, err
	}
	m := &SeqMatch{}
	i, j := 0, 0
	var offA, offB uint32 // elements of a[i], b[j] already paired
	for i < len(a) && j < len(b) {
		remA := a[i].Stop - a[i].Start + 1 - offA
		remB := b[j].Stop - b[j].Start + 1 - offB
		n := min(remA, remB)
		m.runs = append(m.runs, matchRun{Seq: a[i].Start + offA, UID: store.UID(b[j].Start + offB), Len: n})
		offA += n
		offB += n
		if offA == a[i].Stop-a[i].Start+1 {
			i, offA = i+1, 0
		}
		if offB == b[j].Stop-b[j].Start+1 {
			j, offB = j+1, 0
		}
	}
	if i < len(a) || j < len(b) {
		return nil, ErrSeqMatch
	}
	return m, nil
}

// ascendingRanges checks that a set as sent lists its numbers in strictly
// ascending order without "*", and returns its ranges low to high.
func ascendingRanges(s wire.SeqSet) ([]wire.SeqRange, error) {
	if s.Saved || s.HasStar() || len(s.Ranges) == 0 {
		return nil, ErrSeqMatch
	}
	out := make([]wire.SeqRange, 0, len(s.Ranges))
	for _, r := range s.Ranges {
		if r.Start > r.Stop {
			r.Start, r.Stop = r.Stop, r.Start
		}
		if n := len(out); n > 0 && r.Start <= out[n-1].Stop {
			return nil, ErrSeqMatch
		}
		out = append(out, r)
	}
	return out, nil
}

// rank is the number of messages in the view with a UID at or below u.
func (v *View) rank(u store.UID) uint32 {
	i, found := v.uids.Search(u)
	if found {
		i++
	}
	return uint32(i)
}

// uncertain returns the UID ranges in which the client may have missed an
// expunge, judged from match alone (RFC 7162 3.2.5.2).
//
// Between two consecutive pairs (s1, u1) and (s2, u2) the client had
// s2-s1 messages with UIDs in (u1, u2]. The mailbox can only have lost
// messages in that range since then (UIDs below one the client knew are
// never given out again), so if it still holds s2-s1 messages there, it
// holds exactly the client's messages and nothing in the range vanished
// unseen by the client. Where the counts differ, any missing UID the client
// knew may be one it was never told of. The same holds below the first pair
// (counting from zero); above the last pair nothing is known. A pair that
// "matches" in the RFC's sense is the special case where the counts agree
// from 0 up to it; comparing counts between every two pairs also clears
// ranges above a mismatch, so the answer is never larger than the RFC's.
//
// Inside one run the pairs advance together with UIDs one apart, so an
// interval between neighbours holds a single UID, which the mailbox still
// has exactly when the counts agree: checking only each run's first and
// last pair gives the same ranges as checking every pair.
func (v *View) uncertain(match *SeqMatch) store.UIDSet {
	var out store.UIDSet
	var prevSeq, prevRank uint32
	var prevUID store.UID
	check := func(seq uint32, uid store.UID) {
		// NewSeqMatch made the pairs ascend in both numbers and UIDs.
		r := v.rank(uid)
		if r-prevRank != seq-prevSeq {
			out.AddRange(prevUID+1, uid)
		}
		prevSeq, prevUID, prevRank = seq, uid, r
	}
	for _, run := range match.runs {
		check(run.Seq, run.UID)
		if run.Len > 1 {
			check(run.Seq+run.Len-1, run.UID+store.UID(run.Len-1))
		}
	}
	if prevUID < store.MaxUID {
		out.AddRange(prevUID+1, store.MaxUID)
	}
	return out
}

// EarlierVanished returns the UIDs to report in VANISHED (EARLIER) to a
// client resynchronizing from ch, the store's changes since its modseq:
//
//   - only UIDs the client may know: those in known (nil means every UID
//     below UIDNEXT, RFC 7162 3.2.5.1) and below the view's UIDNEXT;
//   - not UIDs the view still shows: those were expunged after the view's
//     modseq and go out as plain VANISHED at the next sync point, so that
//     VANISHED (EARLIER) never names a message the client was told exists;
//   - with complete history (ch.Exact), the tombstones are exactly the
//     expunges since the client's modseq and match is not needed (RFC 7162
//     5.3); when history was pruned, ch.Vanished is every missing UID, and
//     match (when given) removes the ranges the client provably knows.
func (v *View) EarlierVanished(ch store.Changes, known store.UIDSet, match *SeqMatch) store.UIDSet {
	limit := v.Mailbox.UIDNext - 1
	if limit == 0 {
		return nil
	}
	bound := store.UIDSet{{Start: 1, Stop: limit}}
	if known != nil {
		bound = Intersect(bound, known)
	}
	set := Intersect(ch.Vanished, bound)
	if !ch.Exact && match != nil {
		set = Intersect(set, v.uncertain(match))
	}
	return v.withoutShown(set)
}

// ResyncFetches returns a FETCH update for every message of ch.Changed the
// client may know (known, nil for all) whose change is within the view's
// modseq; later changes reach the client at the next sync point.
func (v *View) ResyncFetches(ch store.Changes, known store.UIDSet) []Update {
	var ups []Update
	for _, m := range ch.Changed {
		if m.ModSeq > v.shown || (known != nil && !known.Contains(m.UID)) || v.pending.Contains(m.UID) {
			continue
		}
		if seq, ok := v.Seq(m.UID); ok {
			ups = append(ups, Update{Kind: UpdateFetch, Seq: seq, Msg: m})
		}
	}
	return ups
}

// withoutShown removes from set the UIDs the view holds. The work is one
// binary search per range plus the view's UIDs that fall inside the set,
// which for tombstones are only messages expunged after the view's modseq.
func (v *View) withoutShown(set store.UIDSet) store.UIDSet {
	var out store.UIDSet
	for _, r := range set {
		start := r.Start
		i, _ := v.uids.Search(r.Start)
		v.uids.Scan(i, func(_ int, part []store.UID) bool {
			for _, u := range part {
				if u > r.Stop {
					return false
				}
				if u > start {
					out.AddRange(start, u-1)
				}
				start = u + 1
				if u == r.Stop {
					start = 0 // the range is used up
					return false
				}
			}
			return true
		})
		if start != 0 && start <= r.Stop {
			out.AddRange(start, r.Stop)
		}
	}
	return out
}

// Intersect returns the UIDs in both a and b, walking their ranges once.
func Intersect(a, b store.UIDSet) store.UIDSet {
	var out store.UIDSet
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		lo, hi := max(a[i].Start, b[j].Start), min(a[i].Stop, b[j].Stop)
		if lo <= hi {
			out.AddRange(lo, hi)
		}
		if a[i].Stop < b[j].Stop {
			i++
		} else {
			j++
		}
	}
	return out
}
