package store

import (
	"strings"
	"testing"
)

func TestValidKeyword(t *testing.T) {
	for _, tc := range []struct {
		k    string
		want bool
	}{
		{"Work", true},
		{"$Junk", true},
		{"$Label1", true},
		{"a.b-c_d+e!#&'", true},
		{strings.Repeat("k", 255), true},
		{"", false},
		{strings.Repeat("k", 256), false},
		{`\Seen`, false}, // a system flag is not a keyword
		{"two words", false},
		{"tab\tx", false},
		{"paren(", false},
		{"brace{", false},
		{"wild*", false},
		{"pct%", false},
		{`quote"`, false},
		{"bracket]", false},
		{"caf\u00e9", false}, // 8-bit
		{"del\x7f", false},
	} {
		if got := ValidKeyword(tc.k); got != tc.want {
			t.Errorf("ValidKeyword(%q) = %v, want %v", tc.k, got, tc.want)
		}
	}
}
