package acl

import (
	"errors"
	"testing"
)

func TestParseAndPrint(t *testing.T) {
	for _, tc := range []struct {
		in, stored, printed string
	}{
		{"", "", ""},
		{"lr", "lr", "lr"},
		{"rl", "lr", "lr"},
		{"lrswipkxtea", "lrswipkxtea", "lrswipkxteacd"},
		// RFC 4314 2.1.1: "d" is e and t, "c" is k and x.
		{"lrswida", "lrswitea", "lrswitead"},
		{"c", "kx", "kxc"},
		{"d", "te", "ted"},
		{"k", "k", "kc"},
		{"t", "t", "td"},
		{"aa", "a", "a"},
	} {
		r, err := Parse(tc.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.in, err)
		}
		if got := r.Stored(); got != tc.stored {
			t.Errorf("Parse(%q).Stored() = %q, want %q", tc.in, got, tc.stored)
		}
		if got := r.String(); got != tc.printed {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, tc.printed)
		}
		back, err := Parse(r.Stored())
		if err != nil || back != r {
			t.Errorf("Parse(Stored) of %q = %v, %v", tc.in, back, err)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	// RFC 4314 3.1's examples, and other letters and digits.
	for _, in := range []string{"lrQswicda", "lrqswicda", "0", "l r", "+", "é"} {
		if _, err := Parse(in); !errors.Is(err, ErrBadRights) {
			t.Errorf("Parse(%q) = %v, want ErrBadRights", in, err)
		}
	}
}

func TestMod(t *testing.T) {
	old, _ := Parse("lrswi")
	for _, tc := range []struct{ mod, want string }{
		{"+cda", "lrswikxtea"}, // RFC 4314 3.1's example
		{"-w", "lrsi"},
		{"-cd", "lrswi"},
		{"lr", "lr"},
		{"", ""},
		{"+", "lrswi"},
		{"-", "lrswi"},
	} {
		m, err := ParseMod(tc.mod)
		if err != nil {
			t.Fatalf("ParseMod(%q): %v", tc.mod, err)
		}
		if got := m.Apply(old).Stored(); got != tc.want {
			t.Errorf("%q applied to lrswi = %q, want %q", tc.mod, got, tc.want)
		}
	}
	if _, err := ParseMod("+Q"); !errors.Is(err, ErrBadRights) {
		t.Errorf("ParseMod(+Q) = %v", err)
	}
}

func TestIdentifier(t *testing.T) {
	for in, want := range map[string]string{"Fred": "fred", "anyone": "anyone", "ANYONE": "anyone", "a.b@c": "a.b@c"} {
		if got, err := Identifier(in); err != nil || got != want {
			t.Errorf("Identifier(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := Identifier("-fred"); !errors.Is(err, ErrNegative) {
		t.Errorf("Identifier(-fred) = %v, want ErrNegative", err)
	}
	for _, in := range []string{"", "a b", "fr\u00e9d"} {
		if _, err := Identifier(in); !errors.Is(err, ErrBadIdentifier) {
			t.Errorf("Identifier(%q) = %v, want ErrBadIdentifier", in, err)
		}
	}
}

func TestFor(t *testing.T) {
	entries := map[string]Rights{"bob": Lookup | Read, Anyone: Lookup | Seen}
	if got := For("alice", "alice", entries); got != All {
		t.Errorf("owner has %v", got)
	}
	if got := For("bob", "alice", entries); got != Lookup|Read|Seen {
		t.Errorf("bob has %v", got)
	}
	if got := For("carol", "alice", entries); got != Lookup|Seen {
		t.Errorf("carol has %v", got)
	}
	if got := For("carol", "alice", nil); got != 0 {
		t.Errorf("carol has %v without entries", got)
	}
}
