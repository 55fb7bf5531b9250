package mailimport

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

type readMessage struct {
	MboxMessage
	body string
}

func readAll(t *testing.T, r *MboxReader) []readMessage {
	t.Helper()
	var out []readMessage
	for {
		var buf bytes.Buffer
		m, err := r.Next(&buf)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, readMessage{m, buf.String()})
	}
}

func TestMboxReadTricky(t *testing.T) {
	f, err := os.Open("testdata/tricky.mbox")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msgs := readAll(t, NewMboxReader(f, "tricky.mbox", MboxRD))
	if len(msgs) != 4 {
		t.Fatalf("got %d messages, want 4", len(msgs))
	}

	m := msgs[0]
	wantBody := "From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: quoting\nDate: Mon, 02 Jan 2023 15:04:05 +0000\n\n" +
		"A body line that the sender wrote as\nFrom the start of a line (quoted once in mboxrd)\n>From with a quote already (quoted twice)\n>not a from line\n\nlast line\n"
	if m.body != wantBody {
		t.Errorf("message 1 body:\n%q\nwant\n%q", m.body, wantBody)
	}
	if m.Line != 1 || m.Sender != "alice@example.org" {
		t.Errorf("message 1: line %d sender %q", m.Line, m.Sender)
	}
	if want := time.Date(2023, 1, 2, 15, 4, 5, 0, time.UTC); !m.Date.Equal(want) {
		t.Errorf("message 1 date %v, want %v", m.Date, want)
	}
	wantFlags := store.Flags{System: store.FlagSeen | store.FlagAnswered | store.FlagFlagged, Keywords: []string{"$Label1", "project-x"}}
	if !m.Flags.Equal(wantFlags) {
		t.Errorf("message 1 flags %+v, want %+v", m.Flags, wantFlags)
	}

	m = msgs[1]
	wantBody = "From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: CRLF message\r\nDate: Tue, 14 Feb 2023 08:00:00 +0100\r\n\r\nline one\r\n\r\nFrom inside a CRLF body\r\n\r\nline three\r\n"
	if m.body != wantBody {
		t.Errorf("message 2 body:\n%q\nwant\n%q", m.body, wantBody)
	}
	if m.Line != 17 || m.Flags.System != store.FlagDraft {
		t.Errorf("message 2: line %d flags %+v", m.Line, m.Flags)
	}

	if !strings.Contains(msgs[2].body, "Grüße aus Köln") || !strings.HasSuffix(msgs[2].body, "Ümlauts in the body too.\n\n") {
		t.Errorf("message 3 body: %q", msgs[2].body)
	}
	if msgs[3].body != "From: dave@example.org\nSubject: ends with blank lines and has no date on purpose\n\nbody\n\n\n" || msgs[3].Flags.System != 0 {
		t.Errorf("message 4: %q %+v", msgs[3].body, msgs[3].Flags)
	}
}

func TestMboxEmpty(t *testing.T) {
	for _, in := range []string{"", "\n\n", "\r\n"} {
		if msgs := readAll(t, NewMboxReader(strings.NewReader(in), "e", MboxRD)); len(msgs) != 0 {
			t.Errorf("%q: %d messages", in, len(msgs))
		}
	}
}

func TestMboxMalformed(t *testing.T) {
	for _, c := range []struct {
		in   string
		line int
	}{
		{"This is not an mbox.\nFrom x Mon Jan  2 15:04:05 2023\n\n", 1},
		{"\n\nSubject: no separator\n", 3},
		{" From x Mon Jan  2 15:04:05 2023\n", 1},
	} {
		_, err := NewMboxReader(strings.NewReader(c.in), "bad.mbox", MboxRD).Next(io.Discard)
		var se *MboxSyntaxError
		if !errors.As(err, &se) || se.Line != c.line || se.File != "bad.mbox" {
			t.Errorf("%q: err %v, want syntax error at line %d", c.in, err, c.line)
			continue
		}
		if want := "bad.mbox:" + string(rune('0'+c.line)) + ": "; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %q does not start with %q", err, want)
		}
	}
}

func TestMboxOUnquoting(t *testing.T) {
	in := "From x Mon Jan  2 15:04:05 2023\nS: 1\n\n>From a\n>>From b\n\n"
	msgs := readAll(t, NewMboxReader(strings.NewReader(in), "o", MboxO))
	if len(msgs) != 1 || msgs[0].body != "S: 1\n\nFrom a\n>>From b\n" {
		t.Fatalf("mboxo: %+v", msgs)
	}
}

// TestMboxFromInsideBodyWithoutBlankLine checks that a "From " line that
// does not follow an empty line stays part of the message.
func TestMboxFromInsideBodyWithoutBlankLine(t *testing.T) {
	in := "From x Mon Jan  2 15:04:05 2023\nS: 1\n\nabc\nFrom here\n\nFrom y Mon Jan  2 15:04:06 2023\nS: 2\n\nz\n"
	msgs := readAll(t, NewMboxReader(strings.NewReader(in), "f", MboxRD))
	if len(msgs) != 2 || msgs[0].body != "S: 1\n\nabc\nFrom here\n" || msgs[1].body != "S: 2\n\nz\n" || msgs[1].Line != 7 {
		t.Fatalf("got %+v", msgs)
	}
}

func TestMboxWriteReadRoundTrip(t *testing.T) {
	date := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	cases := []struct {
		body  string
		flags store.Flags
	}{
		{"Subject: a\n\nFrom me\n>From you\n>>>From them\nFrom\n", store.Flags{System: store.FlagSeen}},
		{"Subject: crlf\r\n\r\nFrom crlf\r\n\r\n\r\n", store.Flags{System: store.FlagDeleted | store.FlagDraft, Keywords: []string{"$Junk", "x"}}},
		{"Subject: header only\n", store.Flags{System: store.FlagFlagged}},
		{"\nno header at all\n", store.Flags{}},
		{"Subject: " + strings.Repeat("long ", 30000) + "\n\n" + strings.Repeat("y", 200000) + "\nFrom end\n", store.Flags{System: store.FlagAnswered}},
	}
	var out bytes.Buffer
	w := NewMboxWriter(&out)
	for _, c := range cases {
		if err := w.WriteMessage("", date, c.flags, strings.NewReader(c.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out.Bytes(), []byte("\nFrom me")) || !bytes.Contains(out.Bytes(), []byte("\n>>>>From them")) {
		t.Errorf("quoting not applied:\n%s", out.Bytes()[:200])
	}
	msgs := readAll(t, NewMboxReader(&out, "rt", MboxRD))
	if len(msgs) != len(cases) {
		t.Fatalf("read %d messages, wrote %d", len(msgs), len(cases))
	}
	for i, c := range cases {
		m := msgs[i]
		if m.body != c.body {
			t.Errorf("case %d: body differs:\n%.200q\nwant\n%.200q", i, m.body, c.body)
		}
		if !m.Flags.Equal(c.flags) {
			t.Errorf("case %d: flags %+v, want %+v", i, m.Flags, c.flags)
		}
		if !m.Date.Equal(date) || m.Sender != "MAILER-DAEMON" {
			t.Errorf("case %d: date %v sender %q", i, m.Date, m.Sender)
		}
	}
}

func TestParseFromLineDates(t *testing.T) {
	want := time.Date(2023, 11, 14, 23, 9, 55, 0, time.UTC)
	for _, l := range []string{
		"From a@b Tue Nov 14 23:09:55 2023\n",
		"From a@b  Tue Nov 14 23:09:55 2023\r\n",
		"From - Tue Nov 14 23:09:55 +0000 2023\n",
		"From a@b Tue, 14 Nov 2023 23:09:55 +0000\n",
	} {
		if _, d := parseFromLine([]byte(l)); !d.Equal(want) {
			t.Errorf("%q: %v", l, d)
		}
	}
	if _, d := parseFromLine([]byte("From a@b yesterday\n")); !d.IsZero() {
		t.Errorf("bad date parsed as %v", d)
	}
}
