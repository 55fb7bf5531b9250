package wire

import (
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
