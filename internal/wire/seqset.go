package wire

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Star stands for "*" in a SeqRange: the largest number in use (the
// highest sequence number, or the highest UID).
const Star uint32 = 0

// SeqRange is "a:b" or a single number (Start == Stop), as sent: Start may
// be greater than Stop, and either may be Star.
type SeqRange struct {
	Start, Stop uint32
}

// SeqSet is a sequence set as a client sent it (RFC 9051 9 sequence-set),
// meaning sequence numbers or UIDs depending on the command. Saved is set
// for "$", the result saved by SEARCH RETURN (SAVE) (RFC 5182).
type SeqSet struct {
	Ranges []SeqRange
	Saved  bool
}

// HasStar reports whether the set uses "*".
func (s SeqSet) HasStar() bool {
	return slices.ContainsFunc(s.Ranges, func(r SeqRange) bool { return r.Start == Star || r.Stop == Star })
}

// Resolve replaces "*" with max and returns the numbers the set names as
// sorted, merged ranges with Start <= Stop. Numbers above max are kept:
// whether they are an error depends on the caller (RFC 9051 6.4.9: for
// UIDs they simply match nothing). Per RFC 9051 9, "n:*" with n > max
// means max:n, so it always includes max.
func (s SeqSet) Resolve(max uint32) store.UIDSet {
	// The ranges are sorted first and merged in one pass: inserting them
	// one by one in the order sent costs O(n) each for a set sent in
	// descending order, O(n²) for a hostile line of tens of thousands.
	rs := make(store.UIDSet, 0, len(s.Ranges))
	for _, r := range s.Ranges {
		a, b := r.Start, r.Stop
		if a == Star {
			a = max
		}
		if b == Star {
			b = max
		}
		if a > b {
			a, b = b, a
		}
		if b == 0 {
			continue // "*" of an empty mailbox names nothing
		}
		rs = append(rs, store.UIDRange{Start: store.UID(max32(a, 1)), Stop: store.UID(b)})
	}
	slices.SortFunc(rs, func(x, y store.UIDRange) int { return cmp.Compare(x.Start, y.Start) })
	var out store.UIDSet
	for _, r := range rs {
		out.AddRange(r.Start, r.Stop) // ascending: the append fast path or a merge with the last range
	}
	return out
}

func max32(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}

// UIDSet resolves a UID set against the highest UID in the mailbox (zero
// when it is empty).
func (s SeqSet) UIDSet(highest store.UID) store.UIDSet { return s.Resolve(uint32(highest)) }

// SeqSetOf converts a UID set into a SeqSet, for writing.
func SeqSetOf(u store.UIDSet) SeqSet {
	s := SeqSet{Ranges: make([]SeqRange, len(u))}
	for i, r := range u {
		s.Ranges[i] = SeqRange{uint32(r.Start), uint32(r.Stop)}
	}
	return s
}

// String formats the set in IMAP syntax.
func (s SeqSet) String() string {
	if s.Saved {
		return "$"
	}
	var b strings.Builder
	num := func(n uint32) {
		if n == Star {
			b.WriteByte('*')
		} else {
			b.WriteString(strconv.FormatUint(uint64(n), 10))
		}
	}
	for i, r := range s.Ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		num(r.Start)
		if r.Stop != r.Start {
			b.WriteByte(':')
			num(r.Stop)
		}
	}
	return b.String()
}

// SeqSet reads a sequence set: "$" or comma-separated numbers and ranges,
// where "*" is the largest number in use.
func (d *Decoder) SeqSet() (SeqSet, error) {
	if d.Special('$') {
		return SeqSet{Saved: true}, nil
	}
	var s SeqSet
	for {
		a, err := d.seqNumber()
		if err != nil {
			return SeqSet{}, err
		}
		b := a
		if d.Special(':') {
			if b, err = d.seqNumber(); err != nil {
				return SeqSet{}, err
			}
		}
		s.Ranges = append(s.Ranges, SeqRange{a, b})
		if !d.Special(',') {
			return s, nil
		}
	}
}

func (d *Decoder) seqNumber() (uint32, error) {
	if d.Special('*') {
		return Star, nil
	}
	return d.NzNumber()
}
