package message

import (
	"bytes"
	"testing"
)

// FuzzParse checks that no input makes Parse panic or produce a structure
// inconsistent with the bytes, and that every structure survives
// Marshal/Unmarshal. Seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nbody\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		s, err := Parse(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		checkConsistent(t, msg, s)
		m := NewMatcher("x\u00fc")
		if _, err := TextContains(s, bytes.NewReader(msg), m); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzUnmarshal checks that corrupt stored structures are rejected or
// decoded, never a panic.
func FuzzUnmarshal(f *testing.F) {
	s, _ := Parse(bytes.NewReader([]byte("From: a@b\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nhi\r\n--x--\r\n")))
	enc, _ := s.Marshal()
	f.Add(enc)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Unmarshal(b)
		if err != nil || s.Body == nil {
			return
		}
		if _, err := s.Marshal(); err != nil {
			t.Fatal(err)
		}
	})
}
