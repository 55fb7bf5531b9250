package sortthread

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestThreadRandom checks the invariants of every algorithm's trees on
// random mailboxes full of the hard cases (missing, looping, self and
// duplicate references, duplicate and absent Message-IDs, identical
// dates, Re:/Fwd: subjects): every message appears exactly once; a dummy
// appears only at the top, with two or more children; every set of
// siblings is in sent-date order, ties in sequence order; under
// ORDEREDSUBJECT nothing is deeper than one level; under REFERENCES and
// REFS a message sits below a message only when its references or its
// subject say so. Seed 1 by default, logged; TIDEMARK_THREAD_SEED=n for
// another.
func TestThreadRandom(t *testing.T) {
	seed := uint64(1)
	if v := os.Getenv("TIDEMARK_THREAD_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seed = n
	}
	t.Logf("seed %d (TIDEMARK_THREAD_SEED)", seed)
	rnd := rand.New(rand.NewPCG(seed, seed))
	subjects := []string{"a", "Re: a", "Fwd: a", "[x] b", "b (fwd)", "", "Re:", "c", "[Fwd: c]"}
	for round := 0; round < 300; round++ {
		n := 1 + rnd.IntN(40)
		ids := 1 + rnd.IntN(n+5)
		var msgs []*Msg
		for i := 0; i < n; i++ {
			id := ""
			if rnd.IntN(6) != 0 {
				id = fmt.Sprintf("id%d", rnd.IntN(ids))
			}
			var refs []string
			for k := rnd.IntN(4); k > 0; k-- {
				refs = append(refs, fmt.Sprintf("id%d", rnd.IntN(ids+3)))
			}
			msgs = append(msgs, tm(uint32(i+1), int64(rnd.IntN(5)), subjects[rnd.IntN(len(subjects))], id, refs...))
		}
		for _, alg := range []Algorithm{OrderedSubject, References, Refs} {
			roots := Thread(msgs, alg)
			seen := map[store.UID]int{}
			var walk func(nodes []*Node, top bool, depth int, parent *Msg)
			walk = func(nodes []*Node, top bool, depth int, parent *Msg) {
				for i, nd := range nodes {
					if nd.Msg == nil {
						if !top || len(nd.Children) < 2 {
							t.Fatalf("round %d alg %d: dummy not at the top with 2+ children: %s", round, alg, Format(roots, byUID))
						}
					} else {
						seen[nd.Msg.UID]++
						if alg == OrderedSubject && depth > 1 {
							t.Fatalf("round %d: ORDEREDSUBJECT grandchild: %s", round, Format(roots, byUID))
						}
						if parent != nil && alg != OrderedSubject && !related(msgs, parent, nd.Msg) {
							t.Fatalf("round %d alg %d: %d under %d without reason: %s", round, alg, nd.Msg.UID, parent.UID, Format(roots, byUID))
						}
					}
					if i > 0 && !(top && alg == Refs) && bySent(nodes[i-1], nd) > 0 {
						t.Fatalf("round %d alg %d: siblings out of order: %s", round, alg, Format(roots, byUID))
					}
					walk(nd.Children, false, depth+1, nd.Msg)
				}
			}
			walk(roots, true, 0, nil)
			for _, m := range msgs {
				if seen[m.UID] != 1 {
					t.Fatalf("round %d alg %d: message %d appears %d times: %s", round, alg, m.UID, seen[m.UID], Format(roots, byUID))
				}
			}
		}
	}
}

// related reports whether child may sit below parent: they share a base
// subject (the subject merge), or parent's container leads to child's
// through the links the messages' references make (each reference to the
// next, the last to the message itself), possibly through missing
// messages. A message without a Message-ID, or repeating an earlier
// one's, has a container of its own.
func related(msgs []*Msg, parent, child *Msg) bool {
	if parent.Subject != "" && parent.Subject == child.Subject {
		return true
	}
	token := map[store.UID]string{}
	first := map[string]bool{}
	for _, m := range msgs {
		if m.MessageID != "" && !first[m.MessageID] {
			first[m.MessageID] = true
			token[m.UID] = m.MessageID
		} else {
			token[m.UID] = fmt.Sprintf("#%d", m.UID)
		}
	}
	next := map[string][]string{}
	for _, m := range msgs {
		chain := append(append([]string(nil), m.Refs...), token[m.UID])
		for i := 0; i+1 < len(chain); i++ {
			next[chain[i]] = append(next[chain[i]], chain[i+1])
		}
	}
	from, to := token[parent.UID], token[child.UID]
	seen := map[string]bool{from: true}
	todo := []string{from}
	for len(todo) > 0 {
		id := todo[0]
		todo = todo[1:]
		for _, n := range next[id] {
			if n == to {
				return true
			}
			if !seen[n] {
				seen[n] = true
				todo = append(todo, n)
			}
		}
	}
	return false
}
