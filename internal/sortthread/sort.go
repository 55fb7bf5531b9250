package sortthread

import (
	"cmp"
	"slices"
)

// Key is one sort criterion of RFC 5256 (BASE.6.4.SORT) and RFC 5957.
type Key uint8

const (
	Arrival Key = iota
	Cc
	Date
	From
	Size
	Subject
	To
	DisplayFrom
	DisplayTo
)

// Criterion is a Key, possibly REVERSE.
type Criterion struct {
	Key     Key
	Reverse bool
}

// KeyByName maps the criteria words of the SORT command to keys.
var KeyByName = map[string]Key{
	"ARRIVAL": Arrival, "CC": Cc, "DATE": Date, "FROM": From, "SIZE": Size,
	"SUBJECT": Subject, "TO": To, "DISPLAYFROM": DisplayFrom, "DISPLAYTO": DisplayTo,
}

// compare orders a and b by one key, ascending.
func (k Key) compare(a, b *Msg) int {
	switch k {
	case Arrival:
		return cmp.Compare(a.Arrival, b.Arrival)
	case Cc:
		return cmp.Compare(a.Cc, b.Cc)
	case Date:
		return cmp.Compare(a.Sent, b.Sent)
	case From:
		return cmp.Compare(a.From, b.From)
	case Size:
		return cmp.Compare(a.Size, b.Size)
	case Subject:
		return cmp.Compare(a.Subject, b.Subject)
	case To:
		return cmp.Compare(a.To, b.To)
	case DisplayFrom:
		return cmp.Compare(a.DisplayFrom, b.DisplayFrom)
	case DisplayTo:
		return cmp.Compare(a.DisplayTo, b.DisplayTo)
	}
	return 0
}

// Sort returns msgs, which must be in sequence order (ascending UID),
// ordered by the criteria in priority order. Messages equal under every
// criterion keep their sequence order: REVERSE reverses its own criterion
// only, never that implicit last one (RFC 5256 BASE.6.4.SORT). The empty
// string sorts first, as the comparison of casemapped bytes gives. msgs
// is not modified.
func Sort(msgs []*Msg, crit []Criterion) []*Msg {
	out := slices.Clone(msgs)
	slices.SortStableFunc(out, func(a, b *Msg) int {
		for _, c := range crit {
			r := c.Key.compare(a, b)
			if r != 0 {
				if c.Reverse {
					return -r
				}
				return r
			}
		}
		return 0
	})
	return out
}
