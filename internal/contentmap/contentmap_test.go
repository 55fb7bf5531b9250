package contentmap

import (
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestUIDsOf: pairs read in UID order with content ids out of order (a
// COPY into the same mailbox shares an older content) map every matching
// content to all of its UIDs, ascending; contents of no message are
// skipped.
func TestUIDsOf(t *testing.T) {
	m, err := New(Stamp{HighestModseq: 1}, []int64{10, 11, 13, 10, 12}, []store.UID{1, 2, 3, 4, 5})
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi, ok := m.Bounds(); !ok || lo != 10 || hi != 13 {
		t.Fatalf("bounds %d %d %v", lo, hi, ok)
	}
	for _, c := range []struct {
		cids []int64
		want []store.UID
	}{
		{[]int64{10}, []store.UID{1, 4}},
		{[]int64{9, 10, 12, 14}, []store.UID{1, 4, 5}},
		{[]int64{11, 13}, []store.UID{2, 3}},
		{nil, nil},
	} {
		if got := m.UIDsOf(c.cids); !slices.Equal(got, c.want) {
			t.Errorf("UIDsOf(%v) = %v, want %v", c.cids, got, c.want)
		}
	}
	if _, err := New(Stamp{}, []int64{1}, nil); err == nil {
		t.Fatal("lists of different lengths accepted")
	}
}

// TestCache: a map is returned only for its own state, a map of an older
// state does not replace a newer one, and the least recently used goes
// beyond Max.
func TestCache(t *testing.T) {
	c := Cache{Max: 2}
	mk := func(modseq int64) *Map {
		m, err := New(Stamp{HighestModseq: modseq}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	c.Put(1, mk(5))
	if c.Get(1, Stamp{HighestModseq: 5}) == nil || c.Get(1, Stamp{HighestModseq: 6}) != nil {
		t.Fatal("map returned for the wrong state")
	}
	c.Put(1, mk(4))
	if c.Held(1).Stamp().HighestModseq != 5 {
		t.Fatal("an older map replaced a newer one")
	}
	c.Put(2, mk(1))
	c.Get(1, Stamp{HighestModseq: 5}) // 1 used last
	c.Put(3, mk(1))
	if c.Held(2) != nil || c.Held(1) == nil || c.Held(3) == nil {
		t.Fatal("eviction did not drop the least recently used")
	}
	c.Reset()
	if c.Held(1) != nil {
		t.Fatal("map held after Reset")
	}
}
