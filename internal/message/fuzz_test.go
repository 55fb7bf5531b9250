package message

import (
	"bytes"
	"reflect"
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
// decoded, never a panic, and that whatever decodes is a fixed point of the
// codec: marshalling it and decoding the result gives the same structure,
// and marshalling that gives the same bytes.
func FuzzUnmarshal(f *testing.F) {
	s, _ := Parse(bytes.NewReader([]byte("From: a@b\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nhi\r\n--x--\r\n")))
	enc, _ := s.Marshal()
	f.Add(enc)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Unmarshal(b)
		if err != nil || s.Body == nil {
			return
		}
		enc, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		s2, err := Unmarshal(enc)
		if err != nil {
			t.Fatalf("marshalled form of a decoded structure does not decode: %v", err)
		}
		if !reflect.DeepEqual(s, s2) {
			t.Fatalf("round trip changed the structure:\n%+v\n%+v", s, s2)
		}
		enc2, err := s2.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("re-encoding differs:\n%x\n%x", enc, enc2)
		}
	})
}
