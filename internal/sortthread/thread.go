package sortthread

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Algorithm is a THREAD algorithm.
type Algorithm uint8

const (
	OrderedSubject Algorithm = iota // RFC 5256 ORDEREDSUBJECT
	References                      // RFC 5256 REFERENCES
	Refs                            // draft-ietf-morg-inthread REFS
)

// AlgorithmByName maps the THREAD command's words to algorithms.
var AlgorithmByName = map[string]Algorithm{
	"ORDEREDSUBJECT": OrderedSubject, "REFERENCES": References, "REFS": Refs,
}

// Node is one member of a thread tree. Msg is nil for a dummy, which only
// REFERENCES and REFS leave, and only at the top level with two or more
// children.
type Node struct {
	Msg      *Msg
	Children []*Node

	parent *Node
	seq    int // position in the input: the sequence-number tie-breaker
}

// Thread builds the threads of msgs, which must be in sequence order
// (ascending UID), and returns their roots in order.
func Thread(msgs []*Msg, alg Algorithm) []*Node {
	switch alg {
	case OrderedSubject:
		return orderedSubject(msgs)
	case Refs:
		return refs(msgs)
	default:
		return references(msgs)
	}
}

// bySent orders messages by sent date, then by sequence (RFC 5256 2.2).
func bySent(a, b *Node) int {
	am, as := a.sortMsg()
	bm, bs := b.sortMsg()
	if r := cmp.Compare(am.Sent, bm.Sent); r != 0 {
		return r
	}
	return cmp.Compare(as, bs)
}

// sortMsg is the message a node sorts by: its own, or for a dummy its
// first child's (children already sorted).
func (n *Node) sortMsg() (*Msg, int) {
	for n.Msg == nil && len(n.Children) > 0 {
		n = n.Children[0]
	}
	if n.Msg == nil {
		return &Msg{}, n.seq
	}
	return n.Msg, n.seq
}

// orderedSubject is ORDEREDSUBJECT (RFC 5256 section 3): messages sorted
// by base subject then sent date; each run of one base subject is a
// thread whose first message is the root and the others its children;
// threads in order of their first message's sent date.
func orderedSubject(msgs []*Msg) []*Node {
	nodes := make([]*Node, len(msgs))
	for i, m := range msgs {
		nodes[i] = &Node{Msg: m, seq: i}
	}
	slices.SortFunc(nodes, func(a, b *Node) int {
		if r := cmp.Compare(a.Msg.Subject, b.Msg.Subject); r != 0 {
			return r
		}
		return bySent(a, b)
	})
	var roots []*Node
	for _, n := range nodes {
		if len(roots) > 0 {
			if r := roots[len(roots)-1]; r.Msg.Subject == n.Msg.Subject {
				r.Children = append(r.Children, n)
				continue
			}
		}
		roots = append(roots, n)
	}
	slices.SortFunc(roots, bySent)
	return roots
}

// link builds steps (1) and (2) of REFERENCES and returns the root set
// (every container without a parent, dummies included) in creation order.
func link(msgs []*Msg) []*Node {
	byID := make(map[string]*Node, len(msgs))
	var all []*Node
	container := func(id string) *Node {
		n := byID[id]
		if n == nil {
			n = &Node{seq: -1}
			byID[id] = n
			all = append(all, n)
		}
		return n
	}
	for i, m := range msgs {
		// (1A) A message without a Message-ID, or with one an earlier
		// message already has, gets a unique id: a container of its own.
		var c *Node
		if m.MessageID != "" {
			if d := byID[m.MessageID]; d == nil || d.Msg == nil {
				c = container(m.MessageID)
			}
		}
		if c == nil {
			c = &Node{seq: -1}
			all = append(all, c)
		}
		c.Msg, c.seq = m, i
		// Link each reference to the next unless the child already has a
		// parent or the link would make a loop.
		var prev *Node
		for _, id := range m.Refs {
			r := container(id)
			if prev != nil && r.parent == nil && !r.isAncestorOf(prev) {
				setParent(r, prev)
			}
			prev = r
		}
		// (1B) The last reference becomes the message's parent, replacing
		// any parent an earlier, truncated References gave it.
		if c.parent != nil {
			unlink(c)
		}
		if prev != nil && !c.isAncestorOf(prev) {
			setParent(c, prev)
		}
	}
	// (2) The root set.
	var roots []*Node
	for _, n := range all {
		if n.parent == nil {
			roots = append(roots, n)
		}
	}
	return roots
}

// isAncestorOf reports whether n is d or one of d's ancestors.
func (n *Node) isAncestorOf(d *Node) bool {
	for ; d != nil; d = d.parent {
		if d == n {
			return true
		}
	}
	return false
}

func setParent(c, p *Node) {
	c.parent = p
	p.Children = append(p.Children, c)
}

func unlink(c *Node) {
	p := c.parent
	if i := slices.Index(p.Children, c); i >= 0 {
		p.Children = slices.Delete(p.Children, i, i+1)
	}
	c.parent = nil
}

// prune is step (3): dummies without children go, dummies with children
// give way to them, except that at the top level a dummy with two or more
// children stays (children are not promoted to the root unless there is
// only one). Below the top level no dummy survives.
func prune(nodes []*Node, top bool) []*Node {
	out := nodes[:0:0]
	for _, n := range nodes {
		n.Children = prune(n.Children, false)
		if n.Msg != nil {
			out = append(out, n)
			continue
		}
		switch {
		case len(n.Children) == 0:
		case top && len(n.Children) > 1:
			out = append(out, n)
		default:
			for _, c := range n.Children {
				c.parent = n.parent
			}
			out = append(out, n.Children...)
		}
	}
	return out
}

// sortTree is step (6): every set of siblings by sent date, the deepest
// first, so that a dummy sorts by its first child.
func sortTree(nodes []*Node) {
	for _, n := range nodes {
		sortTree(n.Children)
	}
	slices.SortFunc(nodes, bySent)
}

// references is the REFERENCES algorithm (RFC 5256 section 3).
func references(msgs []*Msg) []*Node {
	roots := prune(link(msgs), true)
	// (4) The top level by sent date, a dummy by its first child.
	sortTree(roots)
	// (5A, 5B) One thread per base subject in the subject table.
	subject := func(n *Node) (*Msg, bool) {
		m, _ := n.sortMsg()
		return m, m.Subject != ""
	}
	table := make(map[string]*Node)
	for _, n := range roots {
		m, ok := subject(n)
		if !ok {
			continue
		}
		t := table[m.Subject]
		if t == nil {
			table[m.Subject] = n
			continue
		}
		if t.Msg != nil && (n.Msg == nil || t.Msg.ReplyOrFwd && !m.ReplyOrFwd) {
			table[m.Subject] = n
		}
	}
	// (5C) Merge the threads of one subject into the table's.
	gone := make(map[*Node]bool)
	var added []*Node
	for _, n := range roots {
		m, ok := subject(n)
		if !ok {
			continue
		}
		t := table[m.Subject]
		if t == n {
			continue
		}
		gone[n] = true
		switch {
		case t.Msg == nil && n.Msg == nil:
			for _, c := range n.Children {
				c.parent = t
			}
			t.Children = append(t.Children, n.Children...)
		case t.Msg == nil, n.Msg.ReplyOrFwd && !t.Msg.ReplyOrFwd:
			setParent(n, t)
		default:
			// Neither is a dummy and n is no reply under an original:
			// both go under a new dummy, which takes t's place in the
			// table (t is still a root: table entries are never moved).
			d := &Node{seq: -1}
			gone[t] = true
			setParent(t, d)
			setParent(n, d)
			table[m.Subject] = d
			added = append(added, d)
		}
	}
	out := roots[:0:0]
	for _, n := range roots {
		if !gone[n] {
			out = append(out, n)
		}
	}
	out = append(out, added...)
	// (6) Every sibling set by sent date.
	sortTree(out)
	return out
}

// refs is THREAD=REFS as Dovecot implements draft-ietf-morg-inthread:
// steps (1) to (3) and (6) of REFERENCES, no subject merge, and the
// threads in order of the newest sent date in each (ties by the root's
// sequence position).
func refs(msgs []*Msg) []*Node {
	roots := prune(link(msgs), true)
	sortTree(roots)
	newest := make(map[*Node]int64, len(roots))
	var walk func(n *Node, v int64) int64
	walk = func(n *Node, v int64) int64 {
		if n.Msg != nil {
			v = max(v, n.Msg.Sent)
		}
		for _, c := range n.Children {
			v = walk(c, v)
		}
		return v
	}
	for _, r := range roots {
		newest[r] = walk(r, -1<<63)
	}
	slices.SortFunc(roots, func(a, b *Node) int {
		if r := cmp.Compare(newest[a], newest[b]); r != 0 {
			return r
		}
		_, as := a.sortMsg()
		_, bs := b.sortMsg()
		return cmp.Compare(as, bs)
	})
	return roots
}

// Format writes threads as the data of a THREAD response (RFC 5256
// BASE.7.2.THREAD), each root in parentheses: a parent and its only child
// are "n m", two or more children parenthesized sub-threads "n (a ...)(b
// ...)", and a dummy writes only its children, each in parentheses. num
// gives a message's number (UID or sequence number); a message without
// one (no longer in the client's view) is skipped, its children taking its
// place.
func Format(roots []*Node, num func(store.UID) (uint32, bool)) string {
	b := make([]byte, 0, 64)
	for _, r := range roots {
		b = format(b, r, num, true)
	}
	return string(b)
}

func format(b []byte, n *Node, num func(store.UID) (uint32, bool), wrap bool) []byte {
	if wrap {
		b = append(b, '(')
	}
	var k uint32
	ok := false
	if n.Msg != nil {
		k, ok = num(n.Msg.UID)
	}
	if ok {
		b = strconv.AppendUint(b, uint64(k), 10)
	}
	switch {
	case len(n.Children) == 1 && ok:
		b = append(b, ' ')
		b = format(b, n.Children[0], num, false)
	case len(n.Children) >= 1:
		if ok {
			b = append(b, ' ')
		}
		for _, c := range n.Children {
			b = format(b, c, num, true)
		}
	}
	if wrap {
		b = append(b, ')')
	}
	return b
}
