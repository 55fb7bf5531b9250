package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func encode(utf8 bool, f func(e *Encoder)) string {
	var buf bytes.Buffer
	e := NewEncoder(bufio.NewWriter(&buf))
	e.UTF8 = utf8
	f(e)
	e.Flush()
	return buf.String()
}

func TestEncoderStrings(t *testing.T) {
	long := strings.Repeat("a", maxQuoted+1)
	for _, tc := range []struct {
		in        string
		utf8      bool
		want      string
		asAstring string
	}{
		{"plain", false, `"plain"`, "plain"},
		{`q"u\o`, false, `"q\"u\\o"`, `"q\"u\\o"`},
		{"two\r\nlines", false, "{10}\r\ntwo\r\nlines", "{10}\r\ntwo\r\nlines"},
		{"café", false, "{5}\r\ncafé", "{5}\r\ncafé"},
		{"café", true, `"café"`, `"café"`},
		{"\xff", true, "{1}\r\n\xff", "{1}\r\n\xff"},
		{"", false, `""`, `""`},
		{"nil", false, `"nil"`, `"nil"`},
		{long, false, "{1025}\r\n" + long, "{1025}\r\n" + long},
	} {
		if got := encode(tc.utf8, func(e *Encoder) { e.String(tc.in) }); got != tc.want {
			t.Errorf("String(%q) utf8=%v: got %q want %q", tc.in, tc.utf8, got, tc.want)
		}
		if got := encode(tc.utf8, func(e *Encoder) { e.Astring(tc.in) }); got != tc.asAstring {
			t.Errorf("Astring(%q) utf8=%v: got %q want %q", tc.in, tc.utf8, got, tc.asAstring)
		}
	}
}

func TestEncoderResponse(t *testing.T) {
	got := encode(false, func(e *Encoder) {
		e.Atom("*").SP().Number(3).SP().Atom("FETCH").SP().Special('(').Atom("FLAGS").SP().
			Flags(store.Flags{System: store.FlagSeen | store.FlagDeleted, Keywords: []string{"$Junk"}}).
			SP().Atom("INTERNALDATE").SP().DateTime(time.Date(2020, 2, 1, 3, 4, 5, 0, time.FixedZone("", -7*3600))).
			SP().Atom("BODY[]").SP().Literal(5, strings.NewReader("hello")).Special(')').CRLF()
		e.Atom("*").SP().Atom("LIST").SP().List(0, nil).SP().Quoted("/").SP().Mailbox("Entwürfe").CRLF()
		e.Atom("*").SP().Atom("VANISHED").SP().UIDSet(store.UIDSetOf(1, 2, 3, 7)).CRLF()
	})
	want := "* 3 FETCH (FLAGS (\\Seen \\Deleted $Junk) INTERNALDATE \" 1-Feb-2020 03:04:05 -0700\" BODY[] {5}\r\nhello)\r\n" +
		"* LIST () \"/\" Entw&APw-rfe\r\n" +
		"* VANISHED 1:3,7\r\n"
	if got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

func TestEncoderShortLiteralSticks(t *testing.T) {
	var buf bytes.Buffer
	e := NewEncoder(bufio.NewWriter(&buf))
	e.Literal(10, strings.NewReader("abc")).CRLF()
	if e.Flush() == nil {
		t.Fatal("a literal shorter than announced must fail")
	}
}

// A literal whose content cannot be read is a *SourceError, told apart
// from a failed write to the client.
func TestLiteralSourceError(t *testing.T) {
	var out bytes.Buffer
	e := NewEncoder(bufio.NewWriter(&out))
	e.Literal(10, strings.NewReader("short"))
	var se *SourceError
	if err := e.Err(); !errors.As(err, &se) || se.Short != 5 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short content: %v", err)
	}
	e = NewEncoder(bufio.NewWriter(&out))
	e.Literal(10, io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(errors.New("disk I/O error"))))
	if err := e.Err(); !errors.As(err, &se) || se.Short != 7 || !strings.Contains(err.Error(), "disk I/O error") {
		t.Fatalf("failing content: %v", err)
	}
	e = NewEncoder(bufio.NewWriterSize(failingWriter{}, 16))
	e.Literal(100, strings.NewReader(strings.Repeat("x", 100)))
	if err := e.Err(); err == nil || errors.As(err, &se) {
		t.Fatalf("failed write taken for a source error: %v", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("connection reset") }

// StringUpper writes what String writes of the upper-cased string.
func TestEncoderStringUpper(t *testing.T) {
	for _, s := range []string{"", "text", "Plain", "x-UNKNOWN-type", `q"u\o`, `a"b"\\c`, "two\r\nlines", "nul\x00",
		"café", "straße", "\xff", strings.Repeat("abc", 30), strings.Repeat("ab\"", 400), strings.Repeat("b", maxQuoted+1)} {
		for _, utf8 := range []bool{false, true} {
			got := encode(utf8, func(e *Encoder) { e.StringUpper(s) })
			want := encode(utf8, func(e *Encoder) { e.String(strings.ToUpper(s)) })
			if got != want {
				t.Errorf("StringUpper(%q) utf8=%v = %q, want %q", s, utf8, got, want)
			}
		}
	}
}
