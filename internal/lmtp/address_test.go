package lmtp

import (
	"reflect"
	"testing"
)

func TestParseAddress(t *testing.T) {
	domains := []string{"example.org", "Mail.Example.NET."}
	for _, c := range []struct {
		in   string
		ok   bool
		want []candidate
	}{
		{"alice", true, []candidate{{"alice", ""}}},
		{"alice@example.org", true, []candidate{{"alice", ""}}},
		{"Alice@EXAMPLE.org", true, []candidate{{"Alice", ""}, {"alice", ""}}},
		{"alice@mail.example.net", true, []candidate{{"alice", ""}}},
		{"alice@example.org.", true, []candidate{{"alice", ""}}},
		{"alice@other.example", false, nil},
		{"alice+lists@example.org", true, []candidate{{"alice", "lists"}, {"alice+lists", ""}}},
		{"alice+Lists/Go@example.org", true, []candidate{{"alice", "Lists/Go"}, {"alice+Lists/Go", ""}, {"alice+lists/go", ""}}},
		{"+x@example.org", true, []candidate{{"+x", ""}}},
		{`"bob"@example.org`, true, []candidate{{"bob", ""}}},
		{"@example.org", false, nil},
	} {
		a, ok := parseAddress(c.in, domains, "+")
		if ok != c.ok || !reflect.DeepEqual(a.candidates, c.want) {
			t.Errorf("parseAddress(%q) = %+v, %v; want %+v, %v", c.in, a.candidates, ok, c.want, c.ok)
		}
	}
	if _, ok := parseAddress("alice@anywhere.example", nil, "+"); !ok {
		t.Error("no domains configured must accept any domain")
	}
	if a, _ := parseAddress("a+b", nil, ""); !reflect.DeepEqual(a.candidates, []candidate{{"a+b", ""}}) {
		t.Errorf("no separator: %+v", a.candidates)
	}
}
