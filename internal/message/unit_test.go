package message

import (
	"bytes"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseAddressList(t *testing.T) {
	cases := []struct {
		in   string
		want []Address
	}{
		{"a@b.c", []Address{{Mailbox: "a", Host: "b.c"}}},
		{`"Smith, J." <j@x.org>`, []Address{{Name: "Smith, J.", Mailbox: "j", Host: "x.org"}}},
		{"John Q. Public <jqp@x>", []Address{{Name: "John Q. Public", Mailbox: "jqp", Host: "x"}}},
		{"<@r1,@r2:u@h>", []Address{{ADL: "@r1,@r2", Mailbox: "u", Host: "h"}}},
		{"a@b, , c@d", []Address{{Mailbox: "a", Host: "b"}, {Mailbox: "c", Host: "d"}}},
		{"undisclosed-recipients", []Address{{Mailbox: "undisclosed-recipients", Host: MissingDomain}}},
		{"Name <>", []Address{{Name: "Name", Mailbox: MissingMailbox, Host: MissingDomain}}},
		{"G: a@b; c@d", []Address{{Kind: AddrGroupStart, Mailbox: "G"}, {Mailbox: "a", Host: "b"}, {Kind: AddrGroupEnd}, {Mailbox: "c", Host: "d"}}},
		{"G: a@b", []Address{{Kind: AddrGroupStart, Mailbox: "G"}, {Mailbox: "a", Host: "b"}, {Kind: AddrGroupEnd}}},
		{"a@b (Comment (nested))", []Address{{Name: "Comment (nested)", Mailbox: "a", Host: "b"}}},
		{`"a\"b" <x@[1.2.3.4]>`, []Address{{Name: `a"b`, Mailbox: "x", Host: "[1.2.3.4]"}}},
		{"<unterminated@x", []Address{{Mailbox: "unterminated", Host: "x"}}},
		{"", nil},
		{"<<>>,;;:", nil},
		// Groups (RFC 5322 3.4, A.1.3): members that are not addresses are
		// left out, a trailing comment is no address.
		{"undisclosed-recipients:;", []Address{{Kind: AddrGroupStart, Mailbox: "undisclosed-recipients"}, {Kind: AddrGroupEnd}}},
		{"Undisclosed recipients: ;", []Address{{Kind: AddrGroupStart, Mailbox: "Undisclosed recipients"}, {Kind: AddrGroupEnd}}},
		{`Team: foo, "bar", Name <>, a@b, c@;`, []Address{{Kind: AddrGroupStart, Mailbox: "Team"}, {Mailbox: "a", Host: "b"}, {Kind: AddrGroupEnd}}},
		{"A Group(Some people):Chris Jones <c@a.test>,joe@example.org,John <jdoe@one.test> (my dear friend); (the end of the group)",
			[]Address{{Kind: AddrGroupStart, Mailbox: "A Group"}, {Name: "Chris Jones", Mailbox: "c", Host: "a.test"},
				{Mailbox: "joe", Host: "example.org"}, {Name: "John", Mailbox: "jdoe", Host: "one.test"}, {Kind: AddrGroupEnd}}},
		{"a@b (only a comment), (another)", []Address{{Name: "only a comment", Mailbox: "a", Host: "b"}}},
		{"a@b, G: <@r:c@d>; e@f", []Address{{Mailbox: "a", Host: "b"}, {Kind: AddrGroupStart, Mailbox: "G"},
			{ADL: "@r", Mailbox: "c", Host: "d"}, {Kind: AddrGroupEnd}, {Mailbox: "e", Host: "f"}}},
	}
	for _, c := range cases {
		got := ParseAddressList(c.in)
		if len(got) == 0 && len(c.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseAddressList(%q)\n got %+v\nwant %+v", c.in, got, c.want)
		}
	}
}

func TestParseDate(t *testing.T) {
	cases := []struct {
		in   string
		want time.Time
	}{
		{"Tue, 14 Nov 2023 18:09:55 -0500", time.Date(2023, 11, 14, 23, 9, 55, 0, time.UTC)},
		{"14 Nov 2023 18:09:55 +0100 (CET)", time.Date(2023, 11, 14, 17, 9, 55, 0, time.UTC)},
		{"Tue,  14 Nov 2023 18:09:55 GMT", time.Date(2023, 11, 14, 18, 9, 55, 0, time.UTC)},
		{"Tue Nov 14 18:09:55 2023", time.Date(2023, 11, 14, 18, 9, 55, 0, time.UTC)},
		{"yesterday", time.Time{}},
		{"", time.Time{}},
	}
	for _, c := range cases {
		if got := ParseDate(c.in); !got.Equal(c.want) {
			t.Errorf("ParseDate(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestTransferDecoders(t *testing.T) {
	cases := []struct {
		kind     encodingKind
		in, want string
	}{
		{encBase64, "SGVsbG8=", "Hello"},
		{encBase64, "SGVs\r\nbG8h\r\n", "Hello!"},
		{encBase64, "SGVsbA", "Hell"},
		{encBase64, "S", ""},
		{encBase64, "SGVs bG8h ==trailing", "Hello!"},
		{encQP, "a=3Db", "a=b"},
		{encQP, "a=3db", "a=b"},
		{encQP, "soft=\r\nbreak", "softbreak"},
		{encQP, "soft= \t\r\nbreak", "softbreak"},
		{encQP, "soft=\nbreak\n", "softbreak\n"},
		{encQP, "trail  \r\nx \t\n", "trail\r\nx\n"},
		{encQP, "in  the middle", "in  the middle"},
		{encQP, "bad =G1 =4", "bad =G1 =4"},
		{encQP, "end=", "end="},
		{encQP, "end= x", "end= x"},
		{encIdentity, "as is=3D", "as is=3D"},
	}
	for _, c := range cases {
		// Whole, and one byte at a time: chunking must not matter.
		for _, step := range []int{len(c.in) + 1, 1} {
			d := newTransferDecoder(c.kind)
			var out []byte
			for i := 0; i < len(c.in); i += step {
				out = d.decode(out, []byte(c.in[i:min(i+step, len(c.in))]))
			}
			out = d.finish(out)
			if string(out) != c.want {
				t.Errorf("decode %d %q (step %d) = %q, want %q", c.kind, c.in, step, out, c.want)
			}
		}
		r := newDecodeReader(strings.NewReader(c.in), newTransferDecoder(c.kind), int64(len(c.in)))
		if b, err := io.ReadAll(r); string(b) != c.want || err != nil {
			t.Errorf("decodeReader %q = %q, %v", c.in, b, err)
		}
	}
}

func TestMatcherFolding(t *testing.T) {
	cases := []struct {
		needle, hay string
		want        bool
	}{
		{"hello", "Say HELLO there", true},
		{"ÜBER", "schon über alles", true},
		{"σοφία", "ΣΟΦΊΑ", true},
		{"kelvin k", "KELVIN \u212a", true}, // KELVIN SIGN folds to k
		{"", "anything", true},
		{"abc", "ab", false},
		{"straße", "STRASSE", false}, // simple folding only
	}
	for _, c := range cases {
		if got := NewMatcher(c.needle).MatchString(c.hay); got != c.want {
			t.Errorf("%q in %q = %v", c.needle, c.hay, got)
		}
		// Streaming, split at every byte boundary.
		for cut := 0; cut <= len(c.hay); cut++ {
			w := &streamMatcher{needle: NewMatcher(c.needle).needle}
			r := io.MultiReader(strings.NewReader(c.hay[:cut]), strings.NewReader(c.hay[cut:]))
			got, err := matchReader(&Matcher{needle: w.needle}, struct{ io.Reader }{r})
			if err != nil || got != c.want {
				t.Errorf("stream %q in %q cut %d = %v, %v", c.needle, c.hay, cut, got, err)
			}
		}
	}
}

func TestMatcherAcrossChunks(t *testing.T) {
	hay := strings.Repeat("x", 100000) + "Nädel" + strings.Repeat("y", 100000)
	w := &streamMatcher{needle: NewMatcher("NÄDEL").needle}
	for i := 0; i < len(hay); i += 7 {
		w.Write([]byte(hay[i:min(i+7, len(hay))]))
	}
	if !w.found {
		t.Error("needle split across many writes not found")
	}
}

func TestDeepNesting(t *testing.T) {
	var b bytes.Buffer
	const depth = 150
	for i := 0; i < depth; i++ {
		b.WriteString("Content-Type: multipart/mixed; boundary=b" + strings.Repeat("x", i) + "\n\n--b" + strings.Repeat("x", i) + "\n")
	}
	b.WriteString("Content-Type: text/plain\n\nleaf\n")
	msg := b.Bytes()
	s := mustParse(t, msg)
	checkConsistent(t, msg, s)
	n, p := 0, s.Body
	for p.IsMultipart() {
		p = p.Children[0]
		n++
	}
	if n != MaxDepth || p.Type != "application" || p.Subtype != "octet-stream" {
		t.Errorf("descended %d levels to %s/%s", n, p.Type, p.Subtype)
	}
}

func TestLongLines(t *testing.T) {
	// Lines longer than the read buffer, a delimiter among them, and a
	// long delimiter line.
	long := strings.Repeat("z", 200<<10)
	msg := []byte("Content-Type: multipart/mixed; boundary=q\r\nX-Long: " + long + "\r\n\r\n--q\r\n\r\n" + long +
		"\r\n--q" + long + "\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--q--\r\n")
	s := mustParse(t, msg)
	checkConsistent(t, msg, s)
	if len(s.Body.Children) != 2 {
		t.Fatalf("%d parts", len(s.Body.Children))
	}
	if p := s.Body.Children[0]; p.Size() != int64(len(long)) || p.Lines != 1 {
		t.Errorf("part 1 size %d lines %d", p.Size(), p.Lines)
	}
	if got := string(readSection(t, s, msg, SectionSpec{Part: []int{2}})); got != "second" {
		t.Errorf("BODY[2] = %q", got)
	}
}

func TestMalformedInputs(t *testing.T) {
	for _, in := range []string{
		"",
		"\n",
		"\r\n\r\n",
		"no header at all",
		"Content-Type: multipart/mixed; boundary=\"\"\n\n--\n",
		"Content-Type: message/rfc822\n\n",
		"Content-Type: message/rfc822\n\nContent-Type: message/rfc822\n\nSubject: x",
		"Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: message/rfc822\n--a--\n",
		"Content-Type: multipart/mixed; boundary=a\n\n--a--\n--a\n\nafter close\n",
		"Content-Type: /\nContent-Transfer-Encoding: base64\n\n====\n",
		"From: \"unterminated\nTo: (comment\nCc: <<<\n\n",
	} {
		s := mustParse(t, []byte(in))
		checkConsistent(t, []byte(in), s)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestParseReadError(t *testing.T) {
	if _, err := Parse(io.MultiReader(strings.NewReader("Subject: x\n"), errReader{})); err == nil {
		t.Fatal("read error not returned")
	}
}

func TestUnmarshalEnvelope(t *testing.T) {
	msg, err := os.ReadFile("testdata/nested.eml")
	if err != nil {
		t.Fatal(err)
	}
	s := mustParse(t, msg)
	enc, _ := s.Marshal()
	env, err := UnmarshalEnvelope(enc)
	if err != nil || !reflect.DeepEqual(env, s.Envelope) {
		t.Errorf("envelope %+v, %v\nwant %+v", env, err, s.Envelope)
	}
	if _, err := UnmarshalEnvelope(enc[:5]); err == nil {
		t.Error("truncated envelope accepted")
	}
}

func TestUnmarshalCorrupt(t *testing.T) {
	s := mustParse(t, []byte("From: a@b\nSubject: s\n\nbody\n"))
	enc, _ := s.Marshal()
	for i := 0; i < len(enc); i++ {
		if _, err := Unmarshal(enc[:i]); err == nil {
			t.Fatalf("truncated at %d accepted", i)
		}
	}
	if _, err := Unmarshal(append(enc, 0)); err == nil {
		t.Error("trailing byte accepted")
	}
}
