package store

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestUIDSetAgainstModel adds random ranges to a UIDSet and to a plain map
// and checks that both agree on membership, size and normal form.
func TestUIDSetAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for round := 0; round < 200; round++ {
		var s UIDSet
		model := map[UID]bool{}
		for i := 0; i < 1+rng.IntN(12); i++ {
			a, b := UID(1+rng.IntN(60)), UID(1+rng.IntN(60))
			s.AddRange(a, b)
			for u := min(a, b); u <= max(a, b); u++ {
				model[u] = true
			}
		}
		for u := UID(0); u <= 62; u++ {
			if s.Contains(u) != model[u] {
				t.Fatalf("set %v: Contains(%d) = %v, model says %v", s, u, s.Contains(u), model[u])
			}
		}
		if s.Len() != uint64(len(model)) {
			t.Fatalf("set %v: Len %d, model %d", s, s.Len(), len(model))
		}
		for i := 1; i < len(s); i++ {
			if uint64(s[i-1].Stop)+1 >= uint64(s[i].Start) {
				t.Fatalf("set %v is not normalized at %d", s, i)
			}
		}
		var want []UID
		for u := range model {
			want = append(want, u)
		}
		slices.Sort(want)
		if got := s.UIDs(); !slices.Equal(got, want) {
			t.Fatalf("UIDs() = %v, want %v", got, want)
		}
	}
}

func TestUIDSetString(t *testing.T) {
	s := UIDSetOf(7, 1, 2, 3, 9, 8)
	if got := s.String(); got != "1:3,7:9" {
		t.Fatalf("String() = %q", got)
	}
	var top UIDSet
	top.AddRange(MaxUID, MaxUID-1)
	if got := top.String(); got != "4294967294:4294967295" {
		t.Fatalf("String() at the top of the range = %q", got)
	}
	if (UIDSet{}).String() != "" || !(UIDSet{}).Empty() {
		t.Fatal("empty set")
	}
}

func TestFlagsApply(t *testing.T) {
	base := Flags{System: FlagSeen, Keywords: []string{"$Work"}}
	cases := []struct {
		op     FlagOp
		change Flags
		want   Flags
	}{
		{FlagsAdd, Flags{System: FlagFlagged, Keywords: []string{"$work", "Later"}}, Flags{System: FlagSeen | FlagFlagged, Keywords: []string{"$Work", "Later"}}},
		{FlagsRemove, Flags{System: FlagSeen, Keywords: []string{"$WORK"}}, Flags{}},
		{FlagsReplace, Flags{System: FlagDraft, Keywords: []string{"b", "A", "a"}}, Flags{System: FlagDraft, Keywords: []string{"A", "b"}}},
	}
	for _, c := range cases {
		got := base.Apply(c.op, c.change)
		if !got.Equal(c.want) {
			t.Errorf("Apply(%v, %+v) = %+v, want %+v", c.op, c.change, got, c.want)
		}
	}
	if !base.Has("$WORK") || base.Has("Other") {
		t.Error("Has is not case-insensitive or matches what is absent")
	}
}

func TestNormalizeKeywords(t *testing.T) {
	got := NormalizeKeywords([]string{"zeta", "Alpha", "ALPHA", "beta", "Zeta"})
	if want := []string{"Alpha", "beta", "zeta"}; !slices.Equal(got, want) {
		t.Fatalf("NormalizeKeywords = %v, want %v", got, want)
	}
	if NormalizeKeywords(nil) != nil {
		t.Fatal("nil in, nil out")
	}
}

func TestHub(t *testing.T) {
	h := NewHub()
	a := h.Watch("alice", 1)
	a2 := h.Watch("alice", 1)
	b := h.Watch("bob", 1)
	defer a2.Close()
	defer b.Close()

	if a.Generation() != 0 {
		t.Fatal("generation before any publication")
	}
	h.Publish("alice", 1, 5)
	h.Publish("alice", 1, 6) // coalesced with the first
	for _, w := range []*Watcher{a, a2} {
		select {
		case <-w.C:
		default:
			t.Fatal("a watcher of the published mailbox was not woken")
		}
		select {
		case <-w.C:
			t.Fatal("two publications woke a watcher twice; they must coalesce")
		default:
		}
	}
	select {
	case <-b.C:
		t.Fatal("another user's watcher was woken")
	default:
	}
	if g := a2.Generation(); g != 2 {
		t.Fatalf("generation = %d after two publications", g)
	}
	a.Close()
	a.Close() // twice is fine
	h.Publish("alice", 1, 7)
	select {
	case <-a.C:
		t.Fatal("a closed watcher was woken")
	default:
	}
}

func TestChangesSplit(t *testing.T) {
	ch := Changes{Changed: []MessageState{{UID: 2}, {UID: 5}, {UID: 7}, {UID: 9}}}
	for _, tc := range []struct {
		next         UID
		added, chged int
	}{{1, 4, 0}, {5, 3, 1}, {6, 2, 2}, {10, 0, 4}} {
		a, c := ch.Split(tc.next)
		if len(a) != tc.added || len(c) != tc.chged {
			t.Errorf("Split(%d) = %v, %v", tc.next, a, c)
		}
		for _, m := range a {
			if m.UID < tc.next {
				t.Errorf("Split(%d): %d counted new", tc.next, m.UID)
			}
		}
	}
}

// A repeated or late notification (a modseq not above the highest one
// published) wakes nobody and leaves the generation alone; zero always
// wakes.
func TestHubDropsRepeatedAndLateNotifications(t *testing.T) {
	h := NewHub()
	w := h.Watch("alice", 1)
	defer w.Close()
	woken := func() bool {
		select {
		case <-w.C:
			return true
		default:
			return false
		}
	}
	h.Publish("alice", 1, 7)
	if !woken() || w.Generation() != 1 {
		t.Fatalf("first publication: generation %d", w.Generation())
	}
	for _, m := range []ModSeq{7, 6, 1} {
		h.Publish("alice", 1, m)
		if woken() || w.Generation() != 1 {
			t.Fatalf("publication of %d after 7 woke the watcher (generation %d)", m, w.Generation())
		}
	}
	h.Publish("alice", 1, 8)
	if !woken() || w.Generation() != 2 {
		t.Fatalf("publication of 8: generation %d", w.Generation())
	}
	h.Publish("alice", 1, 0)
	if !woken() || w.Generation() != 3 {
		t.Fatalf("publication without modseq: generation %d", w.Generation())
	}
}

// The Hub keeps nothing for mailboxes nobody watches: publications for
// them are dropped and the last Close forgets a mailbox.
func TestHubForgetsUnwatchedMailboxes(t *testing.T) {
	h := NewHub()
	for i := range 10000 {
		h.Publish("alice", MailboxID(i), ModSeq(i+1))
	}
	if n := h.Watched(); n != 0 {
		t.Fatalf("%d mailboxes kept after publications nobody watched", n)
	}
	var ws []*Watcher
	for i := range 100 {
		ws = append(ws, h.Watch("bob", MailboxID(i%10)))
		h.Publish("bob", MailboxID(i%10), ModSeq(i+1))
	}
	if n := h.Watched(); n != 10 {
		t.Fatalf("%d mailboxes watched, want 10", n)
	}
	for _, w := range ws {
		w.Close()
	}
	if n := len(h.boxes); n != 0 {
		t.Fatalf("%d mailboxes kept after every watcher closed", n)
	}
	// A new watcher starts afresh: an old modseq wakes it again.
	w := h.Watch("bob", 1)
	defer w.Close()
	h.Publish("bob", 1, 1)
	if w.Generation() != 1 {
		t.Fatalf("generation %d after re-watching", w.Generation())
	}
}

// TestUIDSetArithmeticAgainstModel checks Below, Minus and Normalize
// against plain maps on random sets.
func TestUIDSetArithmeticAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 17))
	random := func() (UIDSet, map[UID]bool) {
		var s UIDSet
		m := map[UID]bool{}
		for i := 0; i < rng.IntN(8); i++ {
			a, b := UID(1+rng.IntN(60)), UID(1+rng.IntN(60))
			s.AddRange(a, b)
			for u := min(a, b); u <= max(a, b); u++ {
				m[u] = true
			}
		}
		return s, m
	}
	for round := 0; round < 300; round++ {
		s, ms := random()
		o, mo := random()
		next := UID(1 + rng.IntN(62))
		below, minus := s.Below(next), s.Minus(o)
		var shuffled UIDSet
		for _, r := range s {
			shuffled = append(shuffled, r)
			if r.Start < r.Stop && rng.IntN(2) == 0 { // split, so pieces touch
				mid := r.Start + UID(rng.IntN(int(r.Stop-r.Start)))
				shuffled[len(shuffled)-1].Stop = mid
				shuffled = append(shuffled, UIDRange{mid + 1, r.Stop})
			}
		}
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		norm := shuffled.Normalize()
		for u := UID(0); u <= 62; u++ {
			if got, want := below.Contains(u), ms[u] && u < next; got != want {
				t.Fatalf("%v.Below(%d) = %v: Contains(%d) = %v", s, next, below, u, got)
			}
			if got, want := minus.Contains(u), ms[u] && !mo[u]; got != want {
				t.Fatalf("%v.Minus(%v) = %v: Contains(%d) = %v", s, o, minus, u, got)
			}
		}
		if !slices.Equal(norm, s) {
			t.Fatalf("Normalize of %v pieces = %v", s, norm)
		}
		for i := 1; i < len(minus); i++ {
			if uint64(minus[i-1].Stop)+1 >= uint64(minus[i].Start) {
				t.Fatalf("Minus gave %v, not normalized", minus)
			}
		}
	}
}
