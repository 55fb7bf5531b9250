package msglist

import (
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// seed is the randomized tests' seed: fixed, logged, and overridable with
// TIDEMARK_MSGLIST_SEED.
func seed(t *testing.T) uint64 {
	s := uint64(1)
	if v := os.Getenv("TIDEMARK_MSGLIST_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		s = n
	}
	t.Logf("seed %d (TIDEMARK_MSGLIST_SEED)", s)
	return s
}

// TestAgainstSlice applies random appends, inserts and removals to a List
// and to a plain sorted slice and checks that they agree after every step,
// that the indices Remove reports are the slice's, and that a copy taken
// by Share never changes afterwards.
func TestAgainstSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(t), 7))
	var model []store.UID
	next := store.UID(1)
	for range 3000 {
		model = append(model, next)
		next += store.UID(1 + rng.IntN(3))
	}
	l := UIDs(slices.Clone(model))
	type held struct {
		l    List[store.UID]
		want []store.UID
	}
	var shares []held
	for step := range 400 {
		switch rng.IntN(4) {
		case 0: // appends
			for range 1 + rng.IntN(1500) {
				l.Append(next)
				model = append(model, next)
				next += 2
			}
		case 1: // an insert into a gap
			if len(model) > 1 {
				i := 1 + rng.IntN(len(model)-1)
				if model[i]-model[i-1] > 1 {
					u := model[i-1] + 1
					j, found := l.Search(u)
					if found || j != i {
						t.Fatalf("step %d: Search(%d) = %d, %v; want %d, false", step, u, j, found, i)
					}
					l.Insert(j, u)
					model = slices.Insert(model, i, u)
				}
			}
		default: // a removal of a few ranges
			var set store.UIDSet
			for range 1 + rng.IntN(20) {
				if len(model) == 0 {
					break
				}
				u := model[rng.IntN(len(model))]
				set.AddRange(u, u+store.UID(rng.IntN(3000)))
			}
			var gotIdx, wantIdx []int
			n := l.Remove(set, func(i int, x store.UID) {
				if l2 := model[i]; l2 != x {
					t.Fatalf("step %d: removed index %d reported with %d, the model holds %d", step, i, x, l2)
				}
				gotIdx = append(gotIdx, i)
			})
			kept := model[:0:0]
			for i, u := range model {
				if set.Contains(u) {
					wantIdx = append(wantIdx, i)
				} else {
					kept = append(kept, u)
				}
			}
			model = kept
			if n != len(wantIdx) || !slices.Equal(gotIdx, wantIdx) {
				t.Fatalf("step %d: removed %d at %v, want %d at %v", step, n, gotIdx, len(wantIdx), wantIdx)
			}
		}
		if got := l.Slice(); !slices.Equal(got, model) {
			t.Fatalf("step %d: list %d entries, model %d; differ", step, len(got), len(model))
		}
		if l.Len() != len(model) {
			t.Fatalf("step %d: Len %d, want %d", step, l.Len(), len(model))
		}
		if len(model) > 0 {
			i := rng.IntN(len(model))
			if l.At(i) != model[i] {
				t.Fatalf("step %d: At(%d) = %d, want %d", step, i, l.At(i), model[i])
			}
			if j, ok := l.Search(model[i]); !ok || j != i {
				t.Fatalf("step %d: Search(%d) = %d, %v; want %d", step, model[i], j, ok, i)
			}
			if last, _ := l.Last(); last != model[len(model)-1] {
				t.Fatalf("step %d: Last %d", step, last)
			}
		}
		if len(l.chunks) > 2*(len(model)/ChunkMax)+4 {
			t.Fatalf("step %d: %d chunks for %d entries", step, len(l.chunks), len(model))
		}
		if rng.IntN(5) == 0 {
			s := l.Share()
			// The holder may append to its own copy.
			s.Append(next + 1_000_000)
			shares = append(shares, held{s, append(slices.Clone(model), next+1_000_000)})
		}
		for k, h := range shares {
			if got := h.l.Slice(); !slices.Equal(got, h.want) {
				t.Fatalf("step %d: a copy shared earlier (%d) changed under its holder", step, k)
			}
		}
	}
}

// TestScan reads a range of indices as pieces.
func TestScan(t *testing.T) {
	var uids []store.UID
	for u := store.UID(1); u <= 5000; u++ {
		uids = append(uids, u)
	}
	l := UIDs(uids)
	var got []store.UID
	l.Scan(1500, func(base int, part []store.UID) bool {
		if store.UID(base+1) != part[0] {
			t.Fatalf("piece at %d starts with %d", base, part[0])
		}
		got = append(got, part...)
		return len(got) < 2000
	})
	if len(got) < 2000 || got[0] != 1501 || !slices.Equal(got, uids[1500:1500+len(got)]) {
		t.Fatalf("scan from 1500 gave %d entries from %d", len(got), got[0])
	}
}

// TestLocate finds a few UIDs, many, and some the list does not hold.
func TestLocate(t *testing.T) {
	var uids []store.UID
	for u := store.UID(2); u <= 10000; u += 2 {
		uids = append(uids, u)
	}
	l := UIDs(uids)
	rng := rand.New(rand.NewPCG(seed(t), 9))
	for range 50 {
		var want []store.UID
		for u := store.UID(1); u <= 10001; u++ {
			if rng.IntN(1+rng.IntN(500)) == 0 {
				want = append(want, u)
			}
		}
		var got []int
		l.Locate(len(want), func(k int) store.UID { return want[k] }, func(k, i int, x *store.UID) {
			if *x != want[k] || uids[i] != want[k] {
				t.Fatalf("UID %d located at %d holding %d", want[k], i, *x)
			}
			got = append(got, k)
		})
		var even []int
		for k, u := range want {
			if u%2 == 0 && u <= 10000 {
				even = append(even, k)
			}
		}
		if !slices.Equal(got, even) {
			t.Fatalf("located %v, want %v", got, even)
		}
	}
}

// TestCursor finds ascending UIDs, held or not, as Search would.
func TestCursor(t *testing.T) {
	var uids []store.UID
	for u := store.UID(3); u <= 9000; u += 3 {
		uids = append(uids, u)
	}
	l := UIDs(uids)
	rng := rand.New(rand.NewPCG(seed(t), 11))
	for range 50 {
		cur := l.Cursor()
		step := 1 + rng.IntN(700)
		for u := store.UID(1 + rng.IntN(50)); u <= 9100; u += store.UID(1 + rng.IntN(step)) {
			gi, gok := cur.Find(u)
			wi, wok := l.Search(u)
			if gi != wi || gok != wok {
				t.Fatalf("Find(%d) = %d, %v; Search gives %d, %v", u, gi, gok, wi, wok)
			}
		}
	}
}
