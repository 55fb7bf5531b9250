package replica

import (
	"fmt"
	"maps"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// staggered makes three synced replicas holding messages 1 (\Seen) and 2
// in INBOX, then moves their HIGHESTMODSEQs apart with changes to message
// 2: n0 by none, n1 by three, n2 by ten. A change then made on n0 is
// earlier than one made on n1, while n2 applies what it receives above
// both.
func staggered(t *testing.T) (n0, n1, n2 *node) {
	n0, n1, n2 = newNode(t, "n0"), newNode(t, "n1"), newNode(t, "n2")
	n0.append("alice", "INBOX", msg(1), store.Flags{System: store.FlagSeen})
	n0.append("alice", "INBOX", msg(2), store.Flags{})
	settle(t, n0, n1, n2)
	for i, n := range []*node{n1, n2} {
		for k := range []int{3, 10}[i] {
			op := store.FlagsAdd
			if k%2 == 1 {
				op = store.FlagsRemove
			}
			n.setFlags("alice", "INBOX", 2, op, store.Flags{Keywords: []string{fmt.Sprint("k", i)}})
		}
	}
	return n0, n1, n2
}

// orders are the sequences of pair syncs the three-replica tests run
// before settling: the replica that applies the earlier change first
// (n2, from n0) then meets the later one (n1), or the other way round.
var orders = [][][2]int{{{0, 2}, {1, 2}, {0, 1}}, {{1, 2}, {0, 2}, {0, 1}}, {{0, 1}, {1, 2}, {0, 2}}}

// TestThreeLaterFlagWins: n0 clears \Seen, n1 (later, by the modseqs)
// clears and sets it again. Whichever way the changes travel, every
// replica ends with n1's value: the flag's stamp is its origin's modseq,
// not the modseq a third replica applied it at (before, n2 applying n0's
// change counted as a change of n2, and its value beat n1's), and a
// further sync moves nothing.
func TestThreeLaterFlagWins(t *testing.T) {
	for i, order := range orders {
		t.Run(fmt.Sprint("order=", i), func(t *testing.T) {
			n0, n1, n2 := staggered(t)
			nodes := []*node{n0, n1, n2}
			n0.setFlags("alice", "INBOX", 1, store.FlagsRemove, store.Flags{System: store.FlagSeen})
			n1.setFlags("alice", "INBOX", 1, store.FlagsRemove, store.Flags{System: store.FlagSeen})
			n1.setFlags("alice", "INBOX", 1, store.FlagsAdd, store.Flags{System: store.FlagSeen | store.FlagAnswered})
			for _, p := range order {
				syncNodes(t, nodes[p[0]], nodes[p[1]])
			}
			settle(t, nodes...)
			for _, n := range nodes {
				var f store.Flags
				n.acct("alice").Messages(ctx, n.mailbox("alice", "INBOX").ID, store.UIDSetOf(1), func(d *store.MessageData) error {
					f = d.Flags
					return nil
				})
				if f.System != store.FlagSeen|store.FlagAnswered {
					t.Errorf("%s: message 1 flags %v, want \\Seen \\Answered (the later change)", n.name, f)
				}
			}
			for i := range nodes {
				for j := i + 1; j < len(nodes); j++ {
					if st := syncNodes(t, nodes[i], nodes[j]); st.Mailboxes != 0 {
						t.Fatalf("settled, yet a sync moved something: %+v", st)
					}
				}
			}
		})
	}
}

// TestThreeLaterEntryWins: the same for a METADATA entry: n0 sets it to
// "early", n1 later to "late"; n2, whose modseqs run ahead, applies n0's
// value above n1's modseq. Every replica ends with "late".
func TestThreeLaterEntryWins(t *testing.T) {
	for i, order := range orders {
		t.Run(fmt.Sprint("order=", i), func(t *testing.T) {
			n0, n1, n2 := staggered(t)
			nodes := []*node{n0, n1, n2}
			early := n0.setMetadata("alice", "INBOX", "/private/x", "early")
			late := n1.setMetadata("alice", "INBOX", "/private/x", "late")
			if early >= late {
				t.Fatalf("n0's change at %d, n1's at %d: not in that order", early, late)
			}
			for _, p := range order {
				syncNodes(t, nodes[p[0]], nodes[p[1]])
			}
			settle(t, nodes...)
			wantMetadata(t, "alice", "INBOX", "/private/x=late", false, nodes...)
		})
	}
}

// TestMergeStamped: the per-flag rule by stamps, and its fallback for
// flags no side has stamped.
func TestMergeStamped(t *testing.T) {
	seen, flagged := store.FlagSeen, store.FlagFlagged
	for _, c := range []struct {
		name      string
		a, b      Message
		unstamped store.Flags
		want      store.Flags
		stamps    store.FlagStamps
	}{
		{"the later change wins",
			Message{Flags: store.Flags{System: seen}, Stamps: store.FlagStamps{`\seen`: 5}},
			Message{Flags: store.Flags{}, Stamps: store.FlagStamps{`\seen`: 7}},
			store.Flags{System: seen}, store.Flags{}, store.FlagStamps{`\seen`: 7}},
		{"a tie sets the flag",
			Message{Flags: store.Flags{}, Stamps: store.FlagStamps{`\seen`: 7}},
			Message{Flags: store.Flags{System: seen}, Stamps: store.FlagStamps{`\seen`: 7}},
			store.Flags{}, store.Flags{System: seen}, store.FlagStamps{`\seen`: 7}},
		{"an add on one side and a remove of another flag on the other both survive",
			Message{Flags: store.Flags{System: seen | flagged}, Stamps: store.FlagStamps{`\flagged`: 9}},
			Message{Flags: store.Flags{Keywords: []string{"Work"}}, Stamps: store.FlagStamps{`\seen`: 8, "work": 3}},
			store.Flags{}, store.Flags{System: flagged, Keywords: []string{"Work"}}, store.FlagStamps{`\flagged`: 9, `\seen`: 8, "work": 3}},
		{"a stamp beats none; unstamped flags take the fallback",
			Message{Flags: store.Flags{Keywords: []string{"todo"}}},
			Message{Flags: store.Flags{System: seen, Keywords: []string{"done"}}, Stamps: store.FlagStamps{"todo": 4}},
			store.Flags{System: seen, Keywords: []string{"done", "todo"}}, store.Flags{System: seen, Keywords: []string{"done"}}, store.FlagStamps{"todo": 4}},
	} {
		got, st := mergeStamped(c.a, c.b, c.unstamped)
		if !flagsEqual(got, c.want) || !maps.Equal(st, c.stamps) {
			t.Errorf("%s: %v %v, want %v %v", c.name, got, st, c.want, c.stamps)
		}
		// The same from the other side.
		if got2, st2 := mergeStamped(c.b, c.a, c.unstamped); !flagsEqual(got2, got) || !maps.Equal(st2, st) {
			t.Errorf("%s, sides swapped: %v %v, want %v %v", c.name, got2, st2, got, st)
		}
	}
}
