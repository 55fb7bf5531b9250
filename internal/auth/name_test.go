package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	good := []string{"a", "alice", "bob.smith", "x-y_z", "0", "a.", strings.Repeat("a", MaxNameLen), "9lives"}
	for _, n := range good {
		if err := ValidName(n); err != nil {
			t.Errorf("ValidName(%q) = %v, want nil", n, err)
		}
	}
	bad := []string{"", ".hidden", ".", "..", "Alice", "a+b", "a/b", "a b", "a@b", "a\x00", "é",
		strings.Repeat("a", MaxNameLen+1), "a\\b", "a:b", "-dash", "_x"}
	for _, n := range bad {
		if err := ValidName(n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidName(%q) = %v, want ErrInvalidName", n, err)
		}
	}
}

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{"Alice": "alice", "BOB.X": "bob.x", "carol": "carol"} {
		got, err := NormalizeName(in)
		if err != nil || got != want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	// KELVIN SIGN lower-cases to 'k' under Unicode rules; it must not
	// become another user's name.
	if got, err := NormalizeName("\u212Aate"); err == nil {
		t.Errorf("NormalizeName(KELVIN SIGN + ate) = %q, want error", got)
	}
	if _, err := NormalizeName("A+B"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("NormalizeName(A+B) = %v, want ErrInvalidName", err)
	}
}
