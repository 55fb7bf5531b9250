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
