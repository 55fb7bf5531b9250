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
	if len(crit) == 1 {
		if v := crit[0].Key.number(); v != nil {
			return sortNumeric(msgs, v, crit[0].Reverse)
		}
	}
	out := slices.Clone(msgs)
	// Not a stable sort (Go's is O(n log² n)): the last criterion is the
	// UID, which orders as the sequence numbers do.
	slices.SortFunc(out, func(a, b *Msg) int {
		for _, c := range crit {
			r := c.Key.compare(a, b)
			if r != 0 {
				if c.Reverse {
					return -r
				}
				return r
			}
		}
		return cmp.Compare(a.UID, b.UID)
	})
	return out
}

// number returns the value of a numeric key, nil for a string key.
func (k Key) number() func(*Msg) int64 {
	switch k {
	case Arrival:
		return func(m *Msg) int64 { return m.Arrival }
	case Date:
		return func(m *Msg) int64 { return m.Sent }
	case Size:
		return func(m *Msg) int64 { return m.Size }
	}
	return nil
}

// sortNumeric is Sort by one numeric key (the common DATE, ARRIVAL or
// SIZE, possibly REVERSE): the values are copied next to the position so
// that the sort compares flat records instead of following pointers.
func sortNumeric(msgs []*Msg, value func(*Msg) int64, reverse bool) []*Msg {
	type rec struct {
		v int64
		i int
	}
	recs := make([]rec, len(msgs))
	for i, m := range msgs {
		v := value(m)
		if reverse {
			v = ^v // order-reversing on all of int64, unlike -v
		}
		recs[i] = rec{v, i}
	}
	slices.SortFunc(recs, func(a, b rec) int {
		if a.v != b.v {
			return cmp.Compare(a.v, b.v)
		}
		return cmp.Compare(a.i, b.i)
	})
	out := make([]*Msg, len(msgs))
	for j, r := range recs {
		out[j] = msgs[r.i]
	}
	return out
}
