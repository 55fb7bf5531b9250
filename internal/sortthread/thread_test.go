package sortthread

import (
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// tm is a test message: UID (also its sequence number), sent date,
// subject as written, Message-ID and references.
func tm(uid uint32, sent int64, subject, id string, refs ...string) *Msg {
	base, rf := BaseSubject(subject)
	return &Msg{UID: store.UID(uid), Sent: sent, Subject: Casemap(base), ReplyOrFwd: rf, MessageID: id, Refs: refs}
}

func byUID(u store.UID) (uint32, bool) { return uint32(u), true }

func TestThreadReferences(t *testing.T) {
	for _, c := range []struct {
		name string
		msgs []*Msg
		alg  Algorithm
		want string
	}{
		{"chain", []*Msg{
			tm(1, 10, "a", "a"), tm(2, 20, "Re: a", "b", "a"), tm(3, 30, "Re: a", "c", "a", "b"),
		}, References, "(1 2 3)"},
		{"siblings sorted by date, ties by sequence", []*Msg{
			tm(1, 10, "a", "a"), tm(2, 30, "x", "b", "a"), tm(3, 20, "y", "c", "a"), tm(4, 20, "z", "d", "a"),
		}, References, "(1 (3)(4)(2))"},
		{"missing parent with two children stays a dummy at the top", []*Msg{
			tm(1, 10, "p", "b", "gone"), tm(2, 20, "q", "c", "gone"),
		}, References, "((1)(2))"},
		{"missing parent with one child is promoted", []*Msg{
			tm(1, 10, "p", "b", "gone"),
		}, References, "(1)"},
		{"missing middle of the chain", []*Msg{
			tm(1, 10, "a", "a"), tm(2, 20, "b", "c", "a", "gone"), tm(3, 30, "c", "d", "a", "gone"),
		}, References, "(1 (2)(3))"},
		{"looping references", []*Msg{
			tm(1, 10, "a", "a", "b"), tm(2, 20, "b", "b", "a"),
		}, References, "(2 1)"}, // 2 would become 1's child, but 1 is already 2's
		{"self reference", []*Msg{
			tm(1, 10, "a", "a", "a"),
		}, References, "(1)"},
		{"reference loop through the chain", []*Msg{
			tm(1, 10, "x", "a", "c", "b"), tm(2, 20, "y", "b", "a"), tm(3, 30, "z", "c", "b"),
		}, References, "(2 (1)(3))"},
		{"duplicate Message-ID counts only for the first", []*Msg{
			tm(1, 10, "a", "a"), tm(2, 20, "b", "a"), tm(3, 30, "c", "x", "a"),
		}, References, "(1 3)(2)"},
		{"no Message-ID", []*Msg{
			tm(1, 10, "a", ""), tm(2, 20, "b", ""),
		}, References, "(1)(2)"},
		{"truncated References: the last reference wins", []*Msg{
			tm(1, 10, "a", "a"), tm(2, 20, "b", "b"), tm(3, 30, "c", "c", "b"),
			tm(4, 40, "d", "d", "a", "c"), // c already has parent b: unchanged
		}, References, "(1)(2 3 4)"},
		{"subject merge: reply under original", []*Msg{
			tm(1, 10, "Hello", "a"), tm(2, 20, "Re: Hello", "b"),
		}, References, "(1 2)"},
		{"subject merge: reply first, original later", []*Msg{
			tm(1, 10, "Re: Hello", "a"), tm(2, 20, "Hello", "b"),
		}, References, "(2 1)"},
		{"subject merge: two originals under a dummy", []*Msg{
			tm(1, 10, "Hello", "a"), tm(2, 20, "hello", "b"), tm(3, 30, "Re: [list] HELLO", "c"),
		}, References, "((1)(2)(3))"},
		{"subject merge into an existing dummy", []*Msg{
			tm(1, 10, "Hi", "b", "gone"), tm(2, 20, "Re: Hi", "c", "gone"), tm(3, 30, "Hi", "d"),
		}, References, "((1)(2)(3))"},
		{"empty subjects never merge", []*Msg{
			tm(1, 10, "", "a"), tm(2, 20, "Re:", "b"),
		}, References, "(1)(2)"},
		{"identical dates: sequence order", []*Msg{
			tm(1, 5, "x", "a"), tm(2, 5, "y", "b"), tm(3, 5, "z", "c"),
		}, References, "(1)(2)(3)"},
		{"top level by date", []*Msg{
			tm(1, 30, "x", "a"), tm(2, 10, "y", "b"), tm(3, 20, "z", "c"),
		}, References, "(2)(3)(1)"},
		{"orderedsubject", []*Msg{
			tm(1, 40, "b", "1"), tm(2, 10, "Re: a", "2"), tm(3, 30, "a", "3"), tm(4, 20, "A", "4"), tm(5, 50, "c", "5"),
		}, OrderedSubject, "(2 (4)(3))(1)(5)"},
		{"orderedsubject one child", []*Msg{
			tm(1, 10, "a", "1"), tm(2, 20, "re: a", "2"),
		}, OrderedSubject, "(1 2)"},
		{"refs: threads by newest message, no subject merge", []*Msg{
			tm(1, 10, "a", "a"), tm(2, 20, "b", "b"), tm(3, 30, "Re: a", "c", "a"), tm(4, 25, "a", "d"),
		}, Refs, "(2)(4)(1 3)"},
	} {
		got := Format(Thread(c.msgs, c.alg), byUID)
		if got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}

func TestSort(t *testing.T) {
	msgs := []*Msg{
		{UID: 1, Sent: 30, Size: 5, From: "B"},
		{UID: 2, Sent: 10, Size: 5, From: "A"},
		{UID: 3, Sent: 30, Size: 1, From: ""},
		{UID: 4, Sent: 20, Size: 5, From: "A"},
	}
	for _, c := range []struct {
		crit []Criterion
		want []store.UID
	}{
		{[]Criterion{{Key: Date}}, []store.UID{2, 4, 1, 3}},
		{[]Criterion{{Key: Date, Reverse: true}}, []store.UID{1, 3, 4, 2}}, // ties stay ascending
		{[]Criterion{{Key: From}, {Key: Date, Reverse: true}}, []store.UID{3, 4, 2, 1}},
		{[]Criterion{{Key: Size}, {Key: From}}, []store.UID{3, 2, 4, 1}},
	} {
		var got []store.UID
		for _, m := range Sort(msgs, c.crit) {
			got = append(got, m.UID)
		}
		if !equalUIDs(got, c.want) {
			t.Errorf("%v: got %v, want %v", c.crit, got, c.want)
		}
	}
}

func equalUIDs(a, b []store.UID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
