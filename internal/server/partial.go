package server

import (
	"strconv"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// PARTIAL (RFC 9394): a window on an ordered result, counted from the
// first result ("1:500") or from the last ("-1:-100"). It is a SEARCH and
// SORT return option (cmd_search.go, cmd_sort.go) and a FETCH modifier
// (cmd_fetch.go), all of which use partialRange.
func init() {
	addCapability("PARTIAL", nil)
}

// partialRange is a parsed partial-range; lo <= hi, both from 1.
type partialRange struct {
	lo, hi uint32
	last   bool // counted from the end: -lo:-hi
}

// readPartialRange reads "SP partial-range" after the word PARTIAL.
//
//	partial-range-first = nz-number ":" nz-number
//	partial-range-last  = MINUS nz-number ":" MINUS nz-number
func readPartialRange(d *wire.Decoder) (partialRange, error) {
	var p partialRange
	if err := d.SP(); err != nil {
		return p, err
	}
	a, err := d.Atom()
	if err != nil {
		return p, err
	}
	bad := Bad("CLIENTBUG", "Invalid partial range "+a)
	x, y, ok := strings.Cut(a, ":")
	if !ok {
		return p, bad
	}
	if strings.HasPrefix(x, "-") != strings.HasPrefix(y, "-") {
		return p, bad
	}
	p.last = strings.HasPrefix(x, "-")
	num := func(s string) uint32 {
		s = strings.TrimPrefix(s, "-")
		if s == "" || s[0] == '0' {
			return 0
		}
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return 0
		}
		return uint32(n)
	}
	p.lo, p.hi = num(x), num(y)
	if p.lo == 0 || p.hi == 0 {
		return p, bad
	}
	if p.lo > p.hi {
		p.lo, p.hi = p.hi, p.lo // "500:400 is the same as 400:500"
	}
	return p, nil
}

// String is the range as the client sent it (normalised to low:high),
// for the PARTIAL return data.
func (p partialRange) String() string {
	if p.last {
		return "-" + strconv.FormatUint(uint64(p.lo), 10) + ":-" + strconv.FormatUint(uint64(p.hi), 10)
	}
	return strconv.FormatUint(uint64(p.lo), 10) + ":" + strconv.FormatUint(uint64(p.hi), 10)
}

// window returns the bounds [from, to) of the range over n ordered
// results; from == to when it holds none of them.
func (p partialRange) window(n int) (from, to int) {
	lo, hi := int(p.lo), int(p.hi)
	if p.last {
		lo, hi = n-hi+1, n-lo+1 // -1 is the last result
	}
	from, to = max(lo, 1)-1, min(hi, n)
	if from >= to {
		return 0, 0
	}
	return from, to
}

// uidsIn lists the UIDs of the view's messages in set, ascending.
func (s *Session) uidsIn(set store.UIDSet) []store.UID {
	var out []store.UID
	for _, r := range set {
		first, _ := s.view.Seq(r.Start) // the first message at or above Start
		last, ok := s.view.Seq(r.Stop)
		if !ok {
			last-- // the last message below Stop
		}
		for seq := first; seq <= last && seq > 0; seq++ {
			if u, ok := s.view.UID(seq); ok {
				out = append(out, u)
			}
		}
	}
	return out
}
