package store

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// UIDRange is an inclusive range of UIDs, Start <= Stop.
type UIDRange struct {
	Start, Stop UID
}

// UIDSet is a set of UIDs as sorted, non-overlapping, non-adjacent ranges.
// The zero value is the empty set. Use Add/AddRange to keep it normalized.
type UIDSet []UIDRange

// UIDSetOf returns the set holding uids.
func UIDSetOf(uids ...UID) UIDSet {
	var s UIDSet
	for _, u := range uids {
		s.Add(u)
	}
	return s
}

// Add inserts one UID.
func (s *UIDSet) Add(u UID) { s.AddRange(u, u) }

// AddRange inserts start..stop (in either order).
func (s *UIDSet) AddRange(start, stop UID) {
	if start > stop {
		start, stop = stop, start
	}
	rs := *s
	// Fast path: appending in ascending order, the common case.
	if n := len(rs); n == 0 || uint64(start) > uint64(rs[n-1].Stop)+1 {
		*s = append(rs, UIDRange{start, stop})
		return
	}
	i, _ := slices.BinarySearchFunc(rs, start, func(r UIDRange, u UID) int {
		if uint64(r.Stop)+1 < uint64(u) {
			return -1
		}
		return 1
	})
	j := i
	for j < len(rs) && uint64(rs[j].Start) <= uint64(stop)+1 {
		start = min(start, rs[j].Start)
		stop = max(stop, rs[j].Stop)
		j++
	}
	*s = slices.Replace(rs, i, j, UIDRange{start, stop})
}

// Contains reports whether u is in the set.
func (s UIDSet) Contains(u UID) bool {
	i, found := slices.BinarySearchFunc(s, u, func(r UIDRange, u UID) int {
		switch {
		case r.Stop < u:
			return -1
		case r.Start > u:
			return 1
		}
		return 0
	})
	_ = i
	return found
}

// Len returns the number of UIDs in the set.
func (s UIDSet) Len() uint64 {
	var n uint64
	for _, r := range s {
		n += uint64(r.Stop-r.Start) + 1
	}
	return n
}

// Empty reports whether the set holds nothing.
func (s UIDSet) Empty() bool { return len(s) == 0 }

// UIDs expands the set. Use only on sets known to be small.
func (s UIDSet) UIDs() []UID {
	var out []UID
	for _, r := range s {
		for u := r.Start; ; u++ {
			out = append(out, u)
			if u == r.Stop {
				break
			}
		}
	}
	return out
}

// String formats the set in IMAP sequence-set syntax ("1:3,7").
func (s UIDSet) String() string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(r.Start), 10))
		if r.Stop != r.Start {
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(uint64(r.Stop), 10))
		}
	}
	return b.String()
}

// Below returns the part of s below uidNext: no message of a mailbox has
// a UID at or above its UIDNEXT.
func (s UIDSet) Below(uidNext UID) UIDSet {
	var out UIDSet
	for _, r := range s {
		if r.Start >= uidNext {
			break
		}
		out = append(out, UIDRange{Start: r.Start, Stop: min(r.Stop, uidNext-1)})
	}
	return out
}

// Normalize returns s, built by appending ranges in any order, ascending
// and merged; it sorts s in place.
func (s UIDSet) Normalize() UIDSet {
	if len(s) < 2 {
		return s
	}
	slices.SortFunc(s, func(a, b UIDRange) int { return cmp.Compare(a.Start, b.Start) })
	var out UIDSet
	for _, r := range s {
		out.AddRange(r.Start, r.Stop)
	}
	return out
}

// Minus returns the UIDs of s not in o, by range arithmetic (both
// normalized), never a walk of the UIDs.
func (s UIDSet) Minus(o UIDSet) UIDSet {
	var out UIDSet
	j := 0
	for _, r := range s {
		next := r.Start
		for j < len(o) && o[j].Stop < next {
			j++
		}
		for k := j; k < len(o) && o[k].Start <= r.Stop; k++ {
			c := o[k]
			if c.Start > next {
				out.AddRange(next, c.Start-1)
			}
			if c.Stop >= r.Stop {
				next = 0
				break
			}
			next = c.Stop + 1
		}
		if next != 0 {
			out.AddRange(next, r.Stop)
		}
	}
	return out
}

// CheckUIDs refuses a set that names UID 0 (RFC 9051 2.3.1.1: UIDs start
// at 1).
func CheckUIDs(uids UIDSet) error {
	if len(uids) > 0 && uids[0].Start == 0 {
		return fmt.Errorf("UID 0: %w", ErrInvalidUID)
	}
	return nil
}
