package store

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalidUserName is wrapped in errors about malformed user names, next
// to ErrNoUser (Open) or ErrCannot (CreateUser).
var ErrInvalidUserName = errors.New("invalid user name")

// ValidUserName folds a user name to its stored form (lower case) and
// checks it: 1..128 characters of a-z 0-9 . - _ @ +, the first a letter or
// digit, so that a name is also safe as a file name. Every backend uses it,
// so a user name means the same on each. Only ASCII is folded: Unicode case
// mapping would turn a distinct name such as "\u212Aate" (KELVIN SIGN) into
// "kate".
func ValidUserName(name string) (string, error) {
	n := asciiLower(name)
	if n == "" || len(n) > 128 {
		return "", fmt.Errorf("user name %q: length must be 1 to 128: %w", name, ErrInvalidUserName)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune(".-_@+", rune(c))) {
			return "", fmt.Errorf("user name %q: bad character %q: %w", name, c, ErrInvalidUserName)
		}
	}
	return n, nil
}

// CanonicalMailboxName checks a mailbox name and returns its stored
// spelling: "INBOX" (and an INBOX first hierarchy level) in upper case,
// everything else as given. Rejected: empty names, bad UTF-8, control
// characters, the LIST wildcards '*' and '%', leading or trailing '/',
// empty levels ("a//b") and "." or ".." levels.
func CanonicalMailboxName(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("mailbox name %q: %s: %w", name, why, ErrInvalidName)
	}
	if name == "" {
		return bad("empty")
	}
	if len(name) > 1024 {
		return bad("too long")
	}
	if !utf8.ValidString(name) {
		return bad("not UTF-8")
	}
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return bad("control character")
		case r == '*' || r == '%':
			return bad("wildcard character")
		}
	}
	levels := strings.Split(name, "/")
	for _, l := range levels {
		switch l {
		case "":
			return bad("empty hierarchy level")
		case ".", "..":
			return bad("dot level")
		}
	}
	if strings.EqualFold(levels[0], "INBOX") {
		levels[0] = "INBOX"
		return strings.Join(levels, "/"), nil
	}
	return name, nil
}

// ParentNames returns the proper ancestors of a canonical name, shortest
// first: "a/b/c" gives "a", "a/b".
func ParentNames(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			out = append(out, name[:i])
		}
	}
	return out
}

// ValidSpecialUse accepts the RFC 6154 attributes and RFC 8457 \Important.
func ValidSpecialUse(u SpecialUse) bool {
	switch strings.ToLower(string(u)) {
	case "", `\all`, `\archive`, `\drafts`, `\flagged`, `\junk`, `\sent`, `\trash`, `\important`:
		return true
	}
	return false
}

// asciiLower folds ASCII letters only (see ValidUserName).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
