package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestValue: RFC 5464 values — quoted, literal, literal8 (NUL allowed
// only there), NIL — and the size check made before a literal's bytes
// are asked for.
func TestValue(t *testing.T) {
	errBig := errors.New("too big")
	for _, tc := range []struct {
		in       string
		want     string
		ok       bool
		err      bool
		syncCall bool
	}{
		{`"a \"b\""`, `a "b"`, true, false, false},
		{"{5}\r\nhello", "hello", true, false, true},
		{"{5+}\r\nhello", "hello", true, false, false},
		{"~{3}\r\na\x00b", "a\x00b", true, false, true},
		{"{3}\r\na\x00b", "", false, true, true},
		{"NIL", "", false, false, false},
		{"nil", "", false, false, false},
		{`""`, "", true, false, false},
		{"{0}\r\n", "", true, false, true},
		{"atom", "", false, true, false},
		{"{11}\r\nhello world", "", false, true, false}, // refused by size
	} {
		d := NewDecoder(bufio.NewReader(strings.NewReader(tc.in+" rest")), Limits{})
		synced := false
		d.OnSyncLiteral = func(int64) error { synced = true; return nil }
		v, ok, err := d.Value(func(n int64) error {
			if n > 10 {
				return errBig
			}
			return nil
		})
		if (err != nil) != tc.err || ok != tc.ok || string(v) != tc.want {
			t.Errorf("%q: %q %v %v, want %q %v error=%v", tc.in, v, ok, err, tc.want, tc.ok, tc.err)
		}
		if tc.in == "{11}\r\nhello world" && !errors.Is(err, errBig) {
			t.Errorf("size check: %v", err)
		}
		if synced != tc.syncCall {
			t.Errorf("%q: continuation asked %v, want %v", tc.in, synced, tc.syncCall)
		}
		if ok && v == nil {
			t.Errorf("%q: a value must not be nil", tc.in)
		}
	}
	var b bytes.Buffer
	e := NewEncoder(bufio.NewWriter(&b))
	e.Value([]byte("plain")).SP().Value([]byte("a\x00b")).SP().Value([]byte("two\r\nlines"))
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "\"plain\" ~{3}\r\na\x00b {10}\r\ntwo\r\nlines"; got != want {
		t.Errorf("encoded %q, want %q", got, want)
	}
}

// FuzzValue: whatever the bytes, Value ends without panicking and a
// value it accepts is what a literal8 of it encodes back to.
func FuzzValue(f *testing.F) {
	for _, s := range []string{`"x"`, "{3}\r\nabc", "~{2}\r\n\x00\x01", "NIL", "{99999999999}\r\n", `"unterminated`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoder(bufio.NewReader(bytes.NewReader(in)), Limits{MaxLine: 200, MaxCommandMemory: 1000})
		v, ok, err := d.Value(nil)
		if err != nil {
			var we *Error
			if !errors.As(err, &we) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%q: %v (%T)", in, err, err)
			}
			return
		}
		if ok && v == nil {
			t.Fatalf("%q: value nil", in)
		}
		var b bytes.Buffer
		e := NewEncoder(bufio.NewWriter(&b))
		e.Literal8(int64(len(v)), bytes.NewReader(v))
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
		d2 := NewDecoder(bufio.NewReader(&b), Limits{MaxCommandMemory: 1 << 20})
		v2, _, err := d2.Value(nil)
		if err != nil || !bytes.Equal(v, v2) {
			t.Fatalf("%q: round trip %q -> %q, %v", in, v, v2, err)
		}
	})
}
