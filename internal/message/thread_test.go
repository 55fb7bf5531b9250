package message

import (
	"slices"
	"testing"
)

func TestThreadRefs(t *testing.T) {
	for _, c := range []struct {
		id, inReplyTo string
		refs          []string
		want          []string
	}{
		{id: "<a@x>", refs: []string{"<r1@x>", " <r2@x> "}, inReplyTo: "<p@x>", want: []string{"a@x", "r1@x", "r2@x", "p@x"}},
		{id: "bare@x", want: []string{"bare@x"}},
		{id: "two words", inReplyTo: "<p@x>", want: []string{"p@x"}}, // not an id
		{id: "", refs: []string{"<>"}, want: nil},                    // empty ids are dropped
	} {
		s := &Structure{}
		s.Search.MessageID, s.Search.InReplyTo, s.Search.References = c.id, c.inReplyTo, c.refs
		if got := s.ThreadRefs().IDs(); !slices.Equal(got, c.want) {
			t.Errorf("%+v: IDs = %q, want %q", c, got, c.want)
		}
	}
}
