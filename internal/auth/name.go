package auth

import (
	"errors"
	"fmt"
)

// ErrInvalidName is returned for a user name that ValidName rejects.
var ErrInvalidName = errors.New("invalid user name")

// MaxNameLen is the longest user name, in bytes.
const MaxNameLen = 64

// ValidName reports whether name is a user name in canonical form: 1 to
// MaxNameLen bytes of lower-case ASCII letters, digits, '.', '-' and '_',
// starting with a letter or digit. '+' is excluded because it is reserved for
// sub-addressing (user+detail@domain) at delivery. The rules also make every
// name safe as a single path element: no '/', no NUL, never "." or "..".
func ValidName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidName, MaxNameLen)
	}
	if c := name[0]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
		// Not '.' (hidden files, "..") nor '-' (read as a flag by tools).
		return fmt.Errorf("%w: %q does not start with a letter or digit", ErrInvalidName, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '.', c == '-', c == '_':
		case 'A' <= c && c <= 'Z':
			return fmt.Errorf("%w: %q is not in lower case", ErrInvalidName, name)
		case c == '+':
			return fmt.Errorf("%w: %q contains '+', which is reserved for sub-addressing", ErrInvalidName, name)
		case c >= 0x80:
			return fmt.Errorf("%w: %q contains non-ASCII characters", ErrInvalidName, name)
		default:
			return fmt.Errorf("%w: %q contains %q", ErrInvalidName, name, rune(c))
		}
	}
	return nil
}

// NormalizeName folds ASCII upper case to lower case and checks the result
// with ValidName. Only ASCII is folded: Unicode case mapping would let a
// distinct string such as "\u212Aate" (KELVIN SIGN) become "kate".
func NormalizeName(name string) (string, error) {
	n := asciiLower(name)
	if err := ValidName(n); err != nil {
		return "", err
	}
	return n, nil
}

// asciiLower folds only ASCII letters (see NormalizeName for why).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
