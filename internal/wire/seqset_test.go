package wire

import (
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func TestSeqSetResolve(t *testing.T) {
	for _, tc := range []struct {
		set  SeqSet
		max  uint32
		want string
	}{
		{SeqSet{Ranges: []SeqRange{{1, Star}}}, 5, "1:5"},
		{SeqSet{Ranges: []SeqRange{{Star, 3}}}, 5, "3:5"},
		{SeqSet{Ranges: []SeqRange{{9, Star}}}, 5, "5:9"}, // RFC 9051 6.4.9: includes max
		{SeqSet{Ranges: []SeqRange{{Star, Star}}}, 0, ""},
		{SeqSet{Ranges: []SeqRange{{4, 2}, {7, 7}, {3, 6}}}, 10, "2:7"},
	} {
		if got := tc.set.Resolve(tc.max).String(); got != tc.want {
			t.Errorf("%s with max %d: got %q want %q", tc.set, tc.max, got, tc.want)
		}
	}
	u := store.UIDSetOf(1, 2, 3, 9)
	if got := SeqSetOf(u).String(); got != "1:3,9" {
		t.Fatalf("SeqSetOf: %q", got)
	}
	if got := SeqSetOf(u).UIDSet(9).String(); got != u.String() {
		t.Fatalf("round trip: %q", got)
	}
}

// TestResolveManyRanges: a set of 100,000 ranges sent in descending order,
// overlapping and adjacent, resolves to the same set as the same ranges
// added one by one, in one sort (see Resolve).
func TestResolveManyRanges(t *testing.T) {
	var s SeqSet
	var want store.UIDSet
	for i := uint32(100_000); i >= 1; i-- {
		a, b := 3*i, 3*i // every third number...
		if i%10 == 0 {
			b = 3*i + 4 // ...and now and then a range reaching over the next
		}
		s.Ranges = append(s.Ranges, SeqRange{b, a})
	}
	for i := uint32(1); i <= 100_000; i++ { // ascending: cheap to build
		b := 3 * i
		if i%10 == 0 {
			b = 3*i + 4
		}
		want.AddRange(store.UID(3*i), store.UID(b))
	}
	s.Ranges = append(s.Ranges, SeqRange{Star, 299_990})
	want.AddRange(299_990, 300_000)
	got := s.Resolve(300_000)
	if !slices.Equal(got, want) {
		t.Fatalf("got %d ranges, want %d", len(got), len(want))
	}
}

func BenchmarkResolveDescending(b *testing.B) {
	var s SeqSet
	for i := uint32(100_000); i >= 1; i-- {
		s.Ranges = append(s.Ranges, SeqRange{2 * i, 2 * i})
	}
	for b.Loop() {
		s.Resolve(200_000)
	}
}
