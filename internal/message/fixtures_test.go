package message

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func loadFixture(t *testing.T, name string) ([]byte, *Structure) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s := mustParse(t, data)
	checkConsistent(t, data, s)
	return data, s
}

// partGeometry is what a test pins down about a part.
type partGeometry struct {
	path              []int
	typ, subtype      string
	header, body, end int64
	lines, decoded    int64
}

func checkGeometry(t *testing.T, s *Structure, want []partGeometry) {
	t.Helper()
	for _, w := range want {
		p := s.Lookup(w.path)
		if p == nil {
			t.Errorf("part %v missing", w.path)
			continue
		}
		got := partGeometry{w.path, p.Type, p.Subtype, p.HeaderOffset, p.BodyOffset, p.EndOffset, p.Lines, p.DecodedSize}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("part %v:\n got %+v\nwant %+v", w.path, got, w)
		}
	}
}

func TestSimpleLF(t *testing.T) {
	msg, s := loadFixture(t, "simple-lf.eml")
	if s.Size != 122 || s.Body.BodyOffset != 56 || s.Body.Lines != 11 {
		t.Errorf("root: size %d body at %d lines %d", s.Size, s.Body.BodyOffset, s.Body.Lines)
	}
	checkGeometry(t, s, []partGeometry{
		{[]int{1}, "text", "plain", 65, 91, 98, 2, 7},
		{[]int{2}, "text", "plain", 104, 105, 110, 1, 5},
	})
	// Part 2 has no Content-Type: RFC 2045 default with its charset.
	if got := s.Lookup([]int{2}).Params; !reflect.DeepEqual(got, []Param{{"charset", "us-ascii"}}) {
		t.Errorf("default params %v", got)
	}
	if got := string(readSection(t, s, msg, SectionSpec{Part: []int{1}})); got != "one\ntwo" {
		t.Errorf("BODY[1] = %q", got)
	}
	if got := string(readSection(t, s, msg, SectionSpec{Part: []int{2}, Specifier: SpecMIME})); got != "\n" {
		t.Errorf("BODY[2.MIME] = %q", got)
	}
	if got := string(readSection(t, s, msg, SectionSpec{Specifier: SpecText})); got != string(msg[56:]) {
		t.Errorf("BODY[TEXT] = %q", got)
	}
}

func TestNested(t *testing.T) {
	msg, s := loadFixture(t, "nested.eml")
	if s.Size != 1678 || s.Body.BodyOffset != 583 {
		t.Fatalf("size %d, body at %d", s.Size, s.Body.BodyOffset)
	}
	checkGeometry(t, s, []partGeometry{
		{[]int{1}, "multipart", "alternative", 615, 670, 1003, 14, 0},
		{[]int{1, 1}, "text", "plain", 679, 787, 862, 2, 66},
		{[]int{1, 2}, "text", "html", 873, 974, 990, 1, 16},
		{[]int{2}, "message", "rfc822", 1014, 1078, 1354, 15, 0},
		{[]int{2, 1}, "text", "plain", 1187, 1215, 1253, 2, 38},
		{[]int{2, 2}, "application", "octet-stream", 1263, 1340, 1344, 1, 3},
		{[]int{3}, "application", "pdf", 1365, 1637, 1655, 2, 12},
	})

	pdf := s.Lookup([]int{3})
	wantPDF := Part{
		Type: "application", Subtype: "pdf",
		Params:            []Param{{"name", "report.pdf"}},
		ID:                "<pdf1@example.org>",
		Encoding:          "base64",
		MD5:               "Q2hlY2sgSW50ZWdyaXR5IQ==",
		Location:          "http://example.org/report.pdf",
		Disposition:       "attachment",
		DispositionParams: []Param{{"filename", "report.pdf"}, {"size", "11"}},
		HeaderOffset:      1365, BodyOffset: 1637, EndOffset: 1655, Lines: 2, DecodedSize: 12,
	}
	if !reflect.DeepEqual(*pdf, wantPDF) {
		t.Errorf("part 3:\n got %+v\nwant %+v", *pdf, wantPDF)
	}
	if l := s.Lookup([]int{1, 2}).Language; !reflect.DeepEqual(l, []string{"de", "en"}) {
		t.Errorf("language %v", l)
	}
	if d := s.Lookup([]int{2}).Description; d != "forwarded" {
		t.Errorf("description %q", d)
	}

	env := s.Envelope
	if env.Subject != "=?UTF-8?B?R3LDvMOfZQ==?= und =?ISO-8859-1?Q?Gr=FC=DFe?= again" {
		t.Errorf("raw subject %q", env.Subject)
	}
	if env.Date != "Tue, 14 Nov 2023 18:09:55 -0500 (EST)" || env.MessageID != "<m1@example.org>" || env.InReplyTo != "<m0@example.org>" {
		t.Errorf("envelope %q %q %q", env.Date, env.MessageID, env.InReplyTo)
	}
	wantFrom := []Address{{Name: "=?ISO-8859-1?Q?Andr=E9?= Pirard", Mailbox: "PIRARD", Host: "vm1.ulg.ac.be"}}
	if !reflect.DeepEqual(env.From, wantFrom) || !reflect.DeepEqual(env.ReplyTo, wantFrom) {
		t.Errorf("from %+v reply-to %+v", env.From, env.ReplyTo)
	}
	if want := []Address{{Name: "Secretary", Mailbox: "sec", Host: "example.org"}}; !reflect.DeepEqual(env.Sender, want) {
		t.Errorf("sender %+v", env.Sender)
	}
	wantTo := []Address{
		{Kind: AddrGroupStart, Mailbox: "Team"},
		{Name: "Bob Q. Smith", Mailbox: "bob", Host: "example.net"},
		{Mailbox: "carol", Host: "example.net"},
		{Kind: AddrGroupEnd},
		{Name: "Dave D", Mailbox: "dave", Host: "example.com"},
	}
	if !reflect.DeepEqual(env.To, wantTo) {
		t.Errorf("to %+v", env.To)
	}
	if want := []Address{{Kind: AddrGroupStart, Mailbox: "undisclosed-recipients"}, {Kind: AddrGroupEnd}}; !reflect.DeepEqual(env.Cc, want) {
		t.Errorf("cc %+v", env.Cc)
	}
	inner := s.Lookup([]int{2}).Message
	if inner.Envelope.Subject != "inner subject" || inner.Envelope.From[0].Mailbox != "eve" || inner.Body.HeaderOffset != 1078 || inner.Body.BodyOffset != 1179 {
		t.Errorf("encapsulated message %+v, body at %d/%d", inner.Envelope, inner.Body.HeaderOffset, inner.Body.BodyOffset)
	}

	sf := s.Search
	wantDate := time.Date(2023, 11, 14, 23, 9, 55, 0, time.UTC)
	if sf.Subject != "Grüße und Grüße again" || sf.From != "André Pirard <PIRARD@vm1.ulg.ac.be>" ||
		sf.To != "Bob Q. Smith <bob@example.net>, carol@example.net, Dave D <dave@example.com>" ||
		!sf.Date.Equal(wantDate) || sf.MessageID != "<m1@example.org>" || sf.InReplyTo != "<m0@example.org>" ||
		!reflect.DeepEqual(sf.References, []string{"<a@x>", "<m0@example.org>"}) {
		t.Errorf("search fields %+v", sf)
	}

	sections := []struct {
		spec SectionSpec
		want string
	}{
		{SectionSpec{Part: []int{1, 1}}, "Gr=FC=DFe aus K=F6ln, das ist ein sehr langer Satz der umgebrochen =\r\nwird."},
		{SectionSpec{Part: []int{1, 2}, Specifier: SpecMIME}, "Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\nContent-Language: de, en\r\n\r\n"},
		{SectionSpec{Part: []int{2}, Specifier: SpecHeader}, "From: Eve <eve@example.com>\r\nSubject: inner subject\r\nContent-Type: multipart/mixed; boundary=deep\r\n\r\n"},
		{SectionSpec{Part: []int{2}, Specifier: SpecHeaderFields, Fields: []string{"SUBJECT"}}, "Subject: inner subject\r\n\r\n"},
		{SectionSpec{Part: []int{2, 1}}, "deep text line one\r\ndeep text line two"},
		{SectionSpec{Part: []int{2, 2}}, "AAEC"},
		{SectionSpec{Part: []int{3}}, "SGVsbG8gV29y\r\nbGQh"},
		{SectionSpec{Specifier: SpecHeaderFields, Fields: []string{"x-note", "Message-ID", "Nope"}},
			"Message-ID: <m1@example.org>\r\nX-Note: first\r\nX-Note: second\r\n  folded\r\n\r\n"},
		{SectionSpec{Specifier: SpecHeaderFieldsNot, Fields: []string{"return-path", "from", "sender", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references", "mime-version", "content-type"}},
			"X-Note: first\r\nX-Note: second\r\n  folded\r\n\r\n"},
		// Parts that do not exist, and HEADER/TEXT of a part that is not a message.
		{SectionSpec{Part: []int{4}}, ""},
		{SectionSpec{Part: []int{1, 1, 1}}, ""},
		{SectionSpec{Part: []int{0}}, ""},
		{SectionSpec{Part: []int{3}, Specifier: SpecHeader}, ""},
		{SectionSpec{Part: []int{3}, Specifier: SpecText}, ""},
		{SectionSpec{Part: []int{3}, Specifier: SpecHeaderFields, Fields: []string{"x"}}, ""},
	}
	for _, c := range sections {
		if got := string(readSection(t, s, msg, c.spec)); got != c.want {
			t.Errorf("section %+v:\n got %q\nwant %q", c.spec, got, c.want)
		}
	}

	decoded := []struct {
		path []int
		want string
	}{
		{[]int{1, 1}, "Gr\xfc\xdfe aus K\xf6ln, das ist ein sehr langer Satz der umgebrochen wird."},
		{[]int{2, 2}, "\x00\x01\x02"},
		{[]int{3}, "Hello World!"},
		{[]int{1, 2}, "<p>Grüße</p>\r\n"},
	}
	for _, c := range decoded {
		r, n, err := Decoded(s, bytes.NewReader(msg), c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		if string(b) != c.want || n != int64(len(c.want)) {
			t.Errorf("BINARY[%v] = %q (%d), want %q", c.path, b, n, c.want)
		}
	}
	if n, err := BinarySize(s, []int{3}); n != 12 || err != nil {
		t.Errorf("BINARY.SIZE[3] = %d, %v", n, err)
	}
}

func TestNoBlankLine(t *testing.T) {
	msg, s := loadFixture(t, "noblank.eml")
	if s.Body.BodyOffset != int64(len(msg)) || s.Body.Size() != 0 || s.Body.Lines != 0 {
		t.Errorf("body at %d size %d lines %d", s.Body.BodyOffset, s.Body.Size(), s.Body.Lines)
	}
	if s.Envelope.Subject != "only a header" {
		t.Errorf("subject %q", s.Envelope.Subject)
	}
	// The last field has no line break: one is added before the blank line.
	if got := string(readSection(t, s, msg, SectionSpec{Specifier: SpecHeaderFields, Fields: []string{"X-Last"}})); got != "X-Last: no newline\n\n" {
		t.Errorf("HEADER.FIELDS = %q", got)
	}
	if got := string(readSection(t, s, msg, SectionSpec{Part: []int{1}})); got != "" {
		t.Errorf("BODY[1] = %q", got)
	}
}

func TestBrokenBoundary(t *testing.T) {
	_, s := loadFixture(t, "broken-boundary.eml")
	checkGeometry(t, s, []partGeometry{
		// The inner alternative never closes: the outer delimiter ends it.
		{[]int{1}, "multipart", "alternative", 59, 108, 150, 4, 0},
		{[]int{1, 1}, "text", "plain", 112, 138, 150, 1, 12},
		// A multipart whose boundary never appears gets one empty part.
		{[]int{2}, "multipart", "related", 155, 204, 221, 1, 0},
		{[]int{2, 1}, "text", "plain", 204, 204, 204, 0, 0},
	})
}

func TestEightBitHeader(t *testing.T) {
	_, s := loadFixture(t, "eightbit-header.eml")
	if s.Envelope.Subject != "Caf\xe9 cr\xe8me" {
		t.Errorf("raw subject %q", s.Envelope.Subject)
	}
	// Latin-1 bytes are read as ISO-8859-1, UTF-8 as UTF-8.
	if s.Search.Subject != "Café crème" || s.Search.From != "Jürgen Müller <jm@example.de>" || s.Search.To != "Zoë <zoe@example.fr>" {
		t.Errorf("search fields %+v", s.Search)
	}
}

func TestQuotedPrintableLatin1(t *testing.T) {
	msg, s := loadFixture(t, "qp-latin1.eml")
	r, n, err := Decoded(s, bytes.NewReader(msg), []int{1})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	want := "Der M\xfcller sagt: Gr\xfc\xdf Gott.\r\nSoftbreak and a bad =ZZ escape=3\r\n"
	if string(b) != want || n != int64(len(want)) {
		t.Errorf("decoded %q (%d)", b, n)
	}
	for _, c := range []struct {
		needle string
		want   bool
	}{
		{"müller", true}, {"MÜLLER", true}, {"grüß gott", true}, {"softbreak", true},
		{"=FC", false}, {"gott.   ", false}, {"Soft=", false},
	} {
		ok, err := BodyContains(s, bytes.NewReader(msg), NewMatcher(c.needle))
		if err != nil || ok != c.want {
			t.Errorf("BODY %q: %v, %v", c.needle, ok, err)
		}
	}
}

func TestDigest(t *testing.T) {
	_, s := loadFixture(t, "digest.eml")
	p := s.Lookup([]int{1})
	if p.Type != "message" || p.Subtype != "rfc822" || p.Message == nil || p.Message.Envelope.Subject != "first" {
		t.Fatalf("digest part 1 %+v", p)
	}
	if p2 := s.Lookup([]int{2}); p2.Type != "text" || p2.Message != nil {
		t.Errorf("digest part 2 %s/%s", p2.Type, p2.Subtype)
	}
	if got := s.Lookup([]int{1, 1}); got != p.Message.Body {
		t.Errorf("1.1 is not the encapsulated body")
	}
}

func TestUnknownEncoding(t *testing.T) {
	msg, s := loadFixture(t, "unknown-cte.eml")
	if !s.Body.UnknownEncoding {
		t.Fatal("x-uuencode not flagged")
	}
	if _, _, err := Decoded(s, bytes.NewReader(msg), []int{1}); err != ErrUnknownEncoding {
		t.Errorf("Decoded: %v", err)
	}
	if _, err := BinarySize(s, []int{1}); err != ErrUnknownEncoding {
		t.Errorf("BinarySize: %v", err)
	}
}

func TestBadBase64AndCharset(t *testing.T) {
	msg, s := loadFixture(t, "badbase64.eml")
	r, _, err := Decoded(s, bytes.NewReader(msg), []int{1})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(r); string(b) != "Hello!!" {
		t.Errorf("decoded %q", b)
	}
	// An unknown charset is searched as UTF-8.
	if ok, err := BodyContains(s, bytes.NewReader(msg), NewMatcher("hello!!")); !ok || err != nil {
		t.Errorf("BODY hello!!: %v %v", ok, err)
	}
}

func TestSearchNested(t *testing.T) {
	msg, s := loadFixture(t, "nested.eml")
	r := bytes.NewReader(msg)
	body := []struct {
		needle string
		want   bool
	}{
		{"KÖLN", true},               // QP ISO-8859-1 text/plain
		{"grüße</p>", true},          // 8bit UTF-8 text/html
		{"umgebrochen wird", true},   // across a soft line break
		{"DEEP TEXT LINE TWO", true}, // inside the encapsulated message
		{"inner subject", true},      // the encapsulated message's header
		{"hello world", false},       // base64 application/pdf is not text
		{"preamble", false},
		{"andré", false}, // top-level header is not body
	}
	for _, c := range body {
		if ok, err := BodyContains(s, r, NewMatcher(c.needle)); ok != c.want || err != nil {
			t.Errorf("BODY %q = %v, %v", c.needle, ok, err)
		}
	}
	if ok, _ := TextContains(s, r, NewMatcher("ANDRÉ pirard")); !ok {
		t.Errorf("TEXT does not find the decoded From")
	}
	if ok, _ := TextContains(s, r, NewMatcher("köln")); !ok {
		t.Errorf("TEXT does not find body text")
	}
	hdr := []struct {
		name, value string
		want        bool
	}{
		{"x-note", "FOLDED", true},
		{"X-Note", "first", true},
		{"X-Note", "", true},
		{"X-Missing", "", false},
		{"Subject", "grüße UND", true},
		{"Subject", "=?UTF-8", false},
		{"To", "team", true},
	}
	for _, c := range hdr {
		if ok, err := HeaderContains(s, r, c.name, NewMatcher(c.value)); ok != c.want || err != nil {
			t.Errorf("HEADER %s %q = %v, %v", c.name, c.value, ok, err)
		}
	}
}
