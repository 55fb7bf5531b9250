package auth

import (
	"errors"
	"strings"
	"testing"
)

var testHash = HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashRoundTrip(t *testing.T) {
	rec, err := hashPassword("correct horse", testHash)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rec, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("record %q lacks the PHC prefix", rec)
	}
	h, err := parsePHC(rec)
	if err != nil {
		t.Fatal(err)
	}
	if h.params != testHash {
		t.Errorf("parsed params %+v, want %+v", h.params, testHash)
	}
	if !h.verify("correct horse") {
		t.Error("right password rejected")
	}
	if h.verify("correct horsE") || h.verify("") {
		t.Error("wrong password accepted")
	}
	if h.outdated(testHash) {
		t.Error("record outdated against its own parameters")
	}
	raised := testHash
	raised.Time = 2
	if !h.outdated(raised) {
		t.Error("record not outdated against raised parameters")
	}
	rec2, _ := hashPassword("correct horse", testHash)
	if rec2 == rec {
		t.Error("two hashes of one password are equal: salt not random")
	}
}

func TestParsePHCRejects(t *testing.T) {
	good, _ := hashPassword("pw", testHash)
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	bad := []string{
		"",
		"plain",
		"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1,x=2$" + salt + "$" + key,
		"$argon2id$v=19$m=99999999,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=300$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$",
		"$argon2id$v=19$m=64,t=1,p=1$!!$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:8],
	}
	for _, s := range bad {
		if _, err := parsePHC(s); !errors.Is(err, errBadHash) {
			t.Errorf("parsePHC(%q) = %v, want errBadHash", s, err)
		}
	}
}

// FuzzParsePHC checks that no stored string makes the parser panic or
// accept parameters outside the bounds, and that what it accepts encodes
// back to the same string.
func FuzzParsePHC(f *testing.F) {
	good, _ := hashPassword("pw", testHash)
	f.Add(good)
	f.Add("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5")
	f.Add("$argon2id$v=19$m=1,t=1,p=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parsePHC(s)
		if err != nil {
			return
		}
		p := h.params
		if p.Memory > maxHashMemory || p.Time > maxHashTime || p.Threads == 0 || len(h.key) < minKeyLen {
			t.Fatalf("accepted out-of-range record %q: %+v", s, p)
		}
		if enc := encodePHC(p, h.salt, h.key); enc != s {
			// Numbers with leading zeros parse but do not round-trip.
			if _, err := parsePHC(enc); err != nil {
				t.Fatalf("re-encoding of %q does not parse: %v", s, err)
			}
		}
	})
}
