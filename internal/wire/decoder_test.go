package wire

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func newTestDecoder(s string, l Limits) *Decoder {
	d := NewDecoder(bufio.NewReader(strings.NewReader(s)), l)
	d.Begin()
	return d
}

func TestDecoderTokens(t *testing.T) {
	d := newTestDecoder("a1 LOGIN \"j\\\"oe\" {5}\r\nse]cr ab]c NIL (x (y z) ()) \\Seen kw 1:3,5,*:7 $ \"17-Jul-1996 02:44:25 -0700\" 1-feb-2020\r\n", Limits{})
	var synced []int64
	d.OnSyncLiteral = func(n int64) error { synced = append(synced, n); return nil }
	must := func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if got := must(d.Tag()); got != "a1" {
		t.Fatalf("tag %q", got)
	}
	d.SP()
	if got := must(d.Atom()); got != "LOGIN" {
		t.Fatalf("atom %q", got)
	}
	d.SP()
	if got := must(d.Astring()); got != `j"oe` {
		t.Fatalf("quoted %q", got)
	}
	d.SP()
	if got := must(d.Astring()); got != "se]cr" {
		t.Fatalf("literal %q", got)
	}
	if len(synced) != 1 || synced[0] != 5 {
		t.Fatalf("continuation callback calls %v", synced)
	}
	d.SP()
	if got := must(d.Astring()); got != "ab]c" {
		t.Fatalf("astring %q", got)
	}
	d.SP()
	if _, ok, err := d.Nstring(); ok || err != nil {
		t.Fatalf("NIL: ok=%v err=%v", ok, err)
	}
	d.SP()
	var atoms []string
	var walk func() error
	walk = func() error {
		if c, _ := d.Peek(); c == '(' {
			return d.List(walk)
		}
		a, err := d.Atom()
		atoms = append(atoms, a)
		return err
	}
	if err := walk(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(atoms, ",") != "x,y,z" {
		t.Fatalf("list atoms %v", atoms)
	}
	d.SP()
	if got := must(d.Flag()); got != `\Seen` {
		t.Fatalf("flag %q", got)
	}
	d.SP()
	if got := must(d.Flag()); got != "kw" {
		t.Fatalf("keyword %q", got)
	}
	d.SP()
	ss, err := d.SeqSet()
	if err != nil || ss.String() != "1:3,5,*:7" {
		t.Fatalf("seqset %v %v", ss, err)
	}
	d.SP()
	if ss, err := d.SeqSet(); err != nil || !ss.Saved {
		t.Fatalf("$: %v %v", ss, err)
	}
	d.SP()
	dt, err := d.DateTime()
	if err != nil || !dt.Equal(time.Date(1996, 7, 17, 9, 44, 25, 0, time.UTC)) {
		t.Fatalf("date-time %v %v", dt, err)
	}
	d.SP()
	if dd, err := d.Date(); err != nil || dd.Format("2006-01-02") != "2020-02-01" {
		t.Fatalf("date %v %v", dd, err)
	}
	if err := d.CRLF(); err != nil || !d.Ended() {
		t.Fatalf("CRLF: %v ended=%v", err, d.Ended())
	}
}

func TestDecoderSyntaxErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		read func(d *Decoder) error
	}{
		{"\"abc\r\n", func(d *Decoder) error { _, err := d.Quoted(); return err }},
		{"\"a\\bc\"", func(d *Decoder) error { _, err := d.Quoted(); return err }},
		{"\"\xff\"", func(d *Decoder) error { _, err := d.Quoted(); return err }},
		{"4294967296", func(d *Decoder) error { _, err := d.Number(); return err }},
		{"0", func(d *Decoder) error { _, err := d.SeqSet(); return err }},
		{"1:", func(d *Decoder) error { _, err := d.SeqSet(); return err }},
		{"(a", func(d *Decoder) error { return d.List(func() error { _, err := d.Atom(); return err }) }},
		{"x", func(d *Decoder) error { _, _, err := d.Nstring(); return err }},
		{"\"32-Jan-2020 00:00:00 +0000\"", func(d *Decoder) error { _, err := d.DateTime(); return err }},
		{"{3}\r\na\x00b", func(d *Decoder) error { _, err := d.String(); return err }},
	} {
		d := newTestDecoder(tc.in, Limits{})
		err := tc.read(d)
		var we *Error
		if !errors.As(err, &we) && !errors.Is(err, io.EOF) {
			t.Errorf("%q: got %v, want *Error", tc.in, err)
		}
	}
}

func TestMailboxInboxNormalized(t *testing.T) {
	d := newTestDecoder("iNbOx \"inbox\" InboxFoo", Limits{})
	for _, want := range []string{"INBOX", "INBOX", "InboxFoo"} {
		got, err := d.Mailbox()
		if err != nil || got != want {
			t.Fatalf("got %q %v, want %q", got, err, want)
		}
		d.Special(' ')
	}
}

// readCommand reads "tag NAME arg*" CRLF, treating every argument as an
// astring, list or literal; it returns the error that stopped it.
func readCommand(d *Decoder) error {
	d.Begin()
	if _, err := d.Tag(); err != nil {
		return err
	}
	if err := d.SP(); err != nil {
		return err
	}
	if _, err := d.Atom(); err != nil {
		return err
	}
	var arg func() error
	arg = func() error {
		c, err := d.Peek()
		if err != nil {
			return err
		}
		switch c {
		case '(':
			return d.List(arg)
		case '~':
			l, err := d.Literal()
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, l)
			return err
		}
		_, err = d.Astring()
		return err
	}
	for d.Special(' ') {
		if err := arg(); err != nil {
			return err
		}
	}
	return d.CRLF()
}

func TestLimitsAndRecovery(t *testing.T) {
	lim := Limits{MaxLine: 40, MaxLiteral: 10, MaxDepth: 3, MaxLiterals: 2, MaxDiscard: 100}
	for _, tc := range []struct {
		name      string
		in        string
		code      string
		close     bool
		syncCalls int
	}{
		{"line too long", "a NOOP " + strings.Repeat("x", 50) + "\r\n", CodeTooBig, false, 0},
		{"sync literal too big: refused, nothing follows", "a LOGIN {11}\r\n", CodeTooBig, false, 0},
		{"non-sync literal too big: skipped", "a LOGIN {11+}\r\nhello world rest\r\n", CodeTooBig, false, 0},
		{"non-sync literal too big to skip: close", "a LOGIN {101+}\r\n" + strings.Repeat("z", 101) + "\r\n", CodeTooBig, true, 0},
		{"nesting too deep", "a X ((((a))))\r\n", CodeLimit, false, 0},
		{"too many literals", "a X {1+}\r\na {1+}\r\nb {1+}\r\nc d\r\n", CodeLimit, false, 0},
		{"syntax error, then a literal to skip", "a X (\"b\r\n", "", false, 0},
		{"syntax error mid-line with later literals", "a X ( ) {3+}\r\nabc {2+}\r\nde\r\n", "", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in + "b NOOP\r\n"
			d := NewDecoder(bufio.NewReader(strings.NewReader(in)), lim)
			d.OnSyncLiteral = func(int64) error { t.Fatal("continuation for a refused literal"); return nil }
			err := readCommand(d)
			var we *Error
			if !errors.As(err, &we) {
				t.Fatalf("got %v, want *Error", err)
			}
			if we.Code != tc.code || we.Close != tc.close {
				t.Fatalf("got %+v, want code %q close %v", we, tc.code, tc.close)
			}
			if tc.close {
				return
			}
			if err := d.Discard(); err != nil {
				t.Fatalf("discard: %v", err)
			}
			if err := readCommand(d); err != nil {
				t.Fatalf("next command after recovery: %v", err)
			}
		})
	}
}

func TestLiteralMinus(t *testing.T) {
	d := newTestDecoder("{4097+}\r\n", Limits{})
	d.NonSyncMax = 4096
	_, err := d.String()
	var we *Error
	if !errors.As(err, &we) || we.Code != CodeTooBig {
		t.Fatalf("got %v, want TOOBIG", err)
	}
}

func TestStreamedLiteral(t *testing.T) {
	body := strings.Repeat("0123456789", 1000)
	d := newTestDecoder("~{10000+}\r\n"+body+" x\r\n", Limits{MaxLiteral: 10})
	l, err := d.Literal()
	if err != nil {
		t.Fatal(err)
	}
	if !l.Binary || l.Size != 10000 {
		t.Fatalf("literal %+v", l)
	}
	got, err := io.ReadAll(l)
	if err != nil || string(got) != body {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	// A literal left unread is skipped before the next token.
	d = newTestDecoder("{5}\r\nabcde x\r\n", Limits{})
	if _, err := d.Literal(); err != nil {
		t.Fatal(err)
	}
	if err := d.SP(); err != nil {
		t.Fatal(err)
	}
	if a, err := d.Atom(); err != nil || a != "x" {
		t.Fatalf("after unread literal: %q %v", a, err)
	}
	// A literal cut short by the connection is an error, not a short message.
	d = newTestDecoder("{5}\r\nab", Limits{})
	l, _ = d.Literal()
	if _, err := io.ReadAll(l); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short literal: %v", err)
	}
}

func TestLiteralAtLineEnd(t *testing.T) {
	for _, tc := range []struct {
		line    string
		size    int64
		nonSync bool
		ok      bool
	}{
		{"a X {12}\r", 12, false, true},
		{"a X {12+}\r", 12, true, true},
		{"a X ~{3}", 3, false, true},
		{"a X {}", 0, false, false},
		{"a X 12}", 0, false, false},
		{"a X", 0, false, false},
	} {
		size, nonSync, ok := literalAtLineEnd([]byte(tc.line))
		if size != tc.size || nonSync != tc.nonSync || ok != tc.ok {
			t.Errorf("%q: got %d %v %v", tc.line, size, nonSync, ok)
		}
	}
}

// TestCommandMemoryLimit: the literals of one command read into memory are
// bounded together; the one that would pass the bound is refused before
// its continuation, and the next command starts afresh.
func TestCommandMemoryLimit(t *testing.T) {
	lit := strings.Repeat("x", 40)
	in := "a {40}\r\n" + lit + " {40}\r\n" + lit + " {40}\r\n"
	d := newTestDecoder(in, Limits{MaxCommandMemory: 100})
	var synced int
	d.OnSyncLiteral = func(int64) error { synced++; return nil }
	d.Tag()
	for i := range 3 {
		d.SP()
		s, err := d.String()
		if i < 2 && (err != nil || s != lit) {
			t.Fatalf("literal %d: %q, %v", i, s, err)
		}
		if i == 2 {
			var we *Error
			if !errors.As(err, &we) || we.Code != CodeLimit || we.Close {
				t.Fatalf("third literal: %v, want [LIMIT]", err)
			}
			if !d.Ended() {
				t.Error("a refused synchronizing literal leaves the command unfinished")
			}
		}
	}
	if synced != 2 {
		t.Errorf("%d continuations, want 2", synced)
	}
	d = newTestDecoder("b {40}\r\n"+lit+" {40}\r\n"+lit+"\r\n", Limits{MaxCommandMemory: 100})
	d.Begin()
	d.Tag()
	for range 2 {
		d.SP()
		if _, err := d.String(); err != nil {
			t.Fatalf("next command: %v", err)
		}
	}
}

func TestNext(t *testing.T) {
	d := newTestDecoder("PREVIEW (LAZY) FLAGS\r\n", Limits{})
	if _, err := d.Atom(); err != nil {
		t.Fatal(err)
	}
	if !d.Next(" (") || !d.Next(" (lazy") || d.Next(" F") || d.Next(" (LAZY) FLAGS\r\nmore") {
		t.Fatal("Next looked wrong")
	}
	if err := d.SP(); err != nil { // nothing was consumed
		t.Fatal(err)
	}
}
