package message

import (
	"bytes"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// flatBomb is a small message of n empty parts in one multipart, the shape
// that costs a server the most structure per byte of mail.
func flatBomb(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.org\r\nSubject: bomb\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
	for range n {
		b.WriteString("--b\r\n\r\n")
	}
	b.WriteString("--b--\r\n")
	return b.Bytes()
}

// countParts counts the parts of a tree as MaxParts does: every part, and
// every encapsulated message's body.
func countParts(p *Part) int {
	n := 1
	for _, c := range p.Children {
		n += countParts(c)
	}
	if p.Message != nil {
		n += countParts(p.Message.Body)
	}
	return n
}

func maxChildren(p *Part) int {
	n := len(p.Children)
	for _, c := range p.Children {
		n = max(n, maxChildren(c))
	}
	if p.Message != nil {
		n = max(n, maxChildren(p.Message.Body))
	}
	return n
}

// TestPartBombBounded parses the 800,000-part message that used to cost a
// structure of tens of megabytes: the parts stop at MaxChildren, the rest of
// the message is text of the last part, the stored form is small, and the
// parse allocates a bounded amount.
func TestPartBombBounded(t *testing.T) {
	msg := flatBomb(800_000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := mustParse(t, msg)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("parsing a %d-byte bomb allocated %d bytes", len(msg), alloc)
	}
	checkConsistent(t, msg, s)
	root := s.Root()
	if got := len(root.Children); got != MaxChildren {
		t.Fatalf("%d children, want %d", got, MaxChildren)
	}
	last := root.Children[len(root.Children)-1]
	tail := msg[last.BodyOffset:last.EndOffset]
	if got := bytes.Count(tail, []byte("--b\r\n")); got != 800_000-MaxChildren {
		t.Errorf("last part holds %d delimiter lines as text, want %d", got, 800_000-MaxChildren)
	}
	enc, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(enc) > 64<<10 {
		t.Errorf("stored structure is %d bytes", len(enc))
	}
}

// TestPartBombNested spreads the parts over many multiparts (each under
// MaxChildren) and encapsulated messages: the total stops at MaxParts.
func TestPartBombNested(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("Content-Type: multipart/mixed; boundary=top\r\n\r\n")
	for i := range 40 {
		fmt.Fprintf(&b, "--top\r\nContent-Type: multipart/mixed; boundary=in%d\r\n\r\n", i)
		for range 100 {
			fmt.Fprintf(&b, "--in%d\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\nhi\r\n", i)
		}
		fmt.Fprintf(&b, "--in%d--\r\n", i)
	}
	b.WriteString("--top--\r\n")
	msg := b.Bytes()
	s := mustParse(t, msg)
	checkConsistent(t, msg, s)
	if n := countParts(s.Root()); n > MaxParts {
		t.Errorf("%d parts, bound %d", n, MaxParts)
	}
	if n := countParts(s.Root()); n < MaxParts/2 {
		t.Errorf("only %d parts: the bound cut more than it should", n)
	}
}

// TestChildrenPerMultipart: one multipart keeps MaxChildren parts; a
// sibling multipart is counted on its own.
func TestChildrenPerMultipart(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("Content-Type: multipart/mixed; boundary=top\r\n\r\n")
	counts := map[string]int{"x": MaxChildren + 50, "y": 100}
	for _, inner := range []string{"x", "y"} {
		fmt.Fprintf(&b, "--top\r\nContent-Type: multipart/mixed; boundary=%s\r\n\r\n", inner)
		for range counts[inner] {
			fmt.Fprintf(&b, "--%s\r\n\r\npart\r\n", inner)
		}
		fmt.Fprintf(&b, "--%s--\r\n", inner)
	}
	b.WriteString("--top--\r\n")
	msg := b.Bytes()
	s := mustParse(t, msg)
	checkConsistent(t, msg, s)
	root := s.Root()
	if len(root.Children) != 2 {
		t.Fatalf("%d top-level parts, want 2", len(root.Children))
	}
	if n := len(root.Children[0].Children); n != MaxChildren {
		t.Errorf("first multipart has %d parts, want %d", n, MaxChildren)
	}
	if n := len(root.Children[1].Children); n != 100 {
		t.Errorf("second multipart has %d parts, want 100", n)
	}
	if maxChildren(root) > MaxChildren {
		t.Error("a multipart passed MaxChildren")
	}
}

// TestHeaderTotalBounded: part headers past MaxHeaderTotal are bytes, not
// fields, so big headers on many parts cannot grow the structure.
func TestHeaderTotalBounded(t *testing.T) {
	pad := strings.Repeat("x", 8000)
	var b bytes.Buffer
	b.WriteString("Content-Type: multipart/mixed; boundary=b\r\n\r\n")
	const n = 300 // 300 × ~8 KB > MaxHeaderTotal
	for range n {
		fmt.Fprintf(&b, "--b\r\nContent-Type: text/html\r\nContent-Description: %s\r\n\r\n<p>\r\n", pad)
	}
	b.WriteString("--b--\r\n")
	msg := b.Bytes()
	s := mustParse(t, msg)
	checkConsistent(t, msg, s)
	parsed := 0
	for _, c := range s.Root().Children {
		if c.Subtype == "html" {
			parsed++
		}
	}
	if parsed == 0 || parsed == n || parsed*len(pad) > MaxHeaderTotal {
		t.Errorf("%d of %d part headers parsed, bound %d bytes", parsed, n, MaxHeaderTotal)
	}
	enc, _ := s.Marshal()
	if len(enc) > MaxHeaderTotal+64<<10 {
		t.Errorf("stored structure %d bytes", len(enc))
	}
}

// TestMarshalBound: a tree whose stored form would pass MaxStructureBytes
// (which Parse cannot produce, but a structure built by hand can) is stored
// as its top-level part alone.
func TestMarshalBound(t *testing.T) {
	big := strings.Repeat("d", 64<<10)
	root := &Part{Type: "multipart", Subtype: "mixed", EndOffset: 10}
	for range 100 {
		root.Children = append(root.Children, &Part{Type: "text", Subtype: "plain", Description: big, HeaderOffset: 1, BodyOffset: 1, EndOffset: 1})
	}
	s := &Structure{Size: 10, Body: root}
	enc, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(enc) > MaxStructureBytes {
		t.Fatalf("stored form %d bytes, bound %d", len(enc), MaxStructureBytes)
	}
	s2, err := Unmarshal(enc)
	if err != nil {
		t.Fatal(err)
	}
	if r := s2.Root(); r.IsMultipart() || len(r.Children) != 0 || r.Type != "application" {
		t.Errorf("over-size tree stored as %s/%s with %d parts", r.Type, r.Subtype, len(r.Children))
	}
}

// marshalV1 writes the stored form of version 1, as stores hold it.
func marshalV1(s *Structure) []byte {
	e := encoder{}
	e.buf = append(e.buf, codecV1)
	e.uvarint(uint64(s.Size))
	e.envelope(&s.Envelope)
	e.part(s.Root())
	e.search(&s.Search)
	return e.buf
}

// marshalV2 writes the stored form of version 2, as stores hold it.
func marshalV2(s *Structure) []byte {
	e := encoder{}
	e.buf = append(e.buf, codecV2)
	e.uvarint(uint64(s.Size))
	e.envelope(&s.Envelope)
	e.search(&s.Search)
	t := encoder{}
	t.part(s.Root())
	e.uvarint(uint64(len(t.buf)))
	e.buf = append(e.buf, t.buf...)
	return e.buf
}

// TestReadVersion2: structures stored in version 2 decode, whole, shallow
// or in part, to the same structure, and are stored again as version 3.
func TestReadVersion2(t *testing.T) {
	msg := []byte("From: a@b\r\nTo: \"C\" <c@d>\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nDate: Tue, 1 Dec 2026 10:00:00 +0100\r\nMessage-ID: <m@x>\r\nReferences: <r@x>\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nhi\r\n--x\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nbody\r\n--x--\r\n")
	s := mustParse(t, msg)
	want, _ := s.Marshal()
	if want[0] != codecVersion {
		t.Fatalf("stored as version %d", want[0])
	}
	v2 := marshalV2(s)
	for _, un := range []func([]byte) (*Structure, error){Unmarshal, UnmarshalShallow} {
		s2, err := un(v2)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := s2.Marshal()
		if !bytes.Equal(got, want) {
			t.Error("version 2 structure decodes differently")
		}
	}
	for _, enc := range [][]byte{v2, want} {
		var env, fetch Structure
		if err := env.DecodeShallow(string(enc), DecodeEnvelope); err != nil || !reflect.DeepEqual(env.Envelope, s.Envelope) || env.Root() != nil {
			t.Errorf("version %d, envelope alone: %+v, %v", enc[0], env, err)
		}
		if err := fetch.DecodeShallow(string(enc), DecodeForFetch); err != nil || !reflect.DeepEqual(fetch.Root(), s.Root()) ||
			!reflect.DeepEqual(fetch.Envelope, s.Envelope) || fetch.Search.Subject != "" {
			t.Errorf("version %d, for FETCH: %+v, %v", enc[0], fetch, err)
		}
		var tree Structure
		if err := tree.DecodeShallow(string(enc), DecodeTree); err != nil || !reflect.DeepEqual(tree.Root(), s.Root()) ||
			tree.Size != s.Size || !reflect.DeepEqual(tree.Envelope, Envelope{}) || tree.Search.Subject != "" {
			t.Errorf("version %d, the tree alone: %+v, %v", enc[0], tree, err)
		}
		// Built at once, its parts from a slab too small for them all.
		for _, what := range []Decoding{DecodeTree, DecodeForFetch} {
			var now Structure
			slab := Slab{Parts: make([]Part, 0, 2), Params: make([]Param, 0, 1), Children: make([]*Part, 0, 1)}
			if err := now.DecodeInto(string(enc), what, &slab); err != nil || !reflect.DeepEqual(now.Root(), s.Root()) ||
				now.Size != s.Size || len(slab.Parts) != 2 || (what == DecodeForFetch) != reflect.DeepEqual(now.Envelope, s.Envelope) {
				t.Errorf("version %d, decoded at once (%d): %+v, %v", enc[0], what, now, err)
			}
		}
	}
}

// TestReadVersion1: structures stored before version 2 still decode, whole
// or shallow, to the same structure.
func TestReadVersion1(t *testing.T) {
	msg := []byte("From: a@b\r\nSubject: s\r\nMessage-ID: <m@x>\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nhi\r\n--x\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nbody\r\n--x--\r\n")
	s := mustParse(t, msg)
	want, _ := s.Marshal()
	for _, un := range []func([]byte) (*Structure, error){Unmarshal, UnmarshalShallow} {
		s1, err := un(marshalV1(s))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := s1.Marshal()
		if !bytes.Equal(got, want) {
			t.Error("version 1 structure decodes differently")
		}
	}
}

// TestReadStoredBomb: a bomb stored before the bounds (version 1, 20,000
// parts) decodes to at most MaxParts parts.
func TestReadStoredBomb(t *testing.T) {
	root := &Part{Type: "multipart", Subtype: "mixed", Params: []Param{{"boundary", "b"}}}
	for range 20_000 {
		root.Children = append(root.Children, &Part{Type: "text", Subtype: "plain"})
	}
	enc := marshalV1(&Structure{Body: root})
	s, err := Unmarshal(enc)
	if err != nil {
		t.Fatal(err)
	}
	if n := countParts(s.Root()); n > MaxParts || len(s.Root().Children) > MaxChildren {
		t.Errorf("stored bomb decoded to %d parts, %d in one multipart", n, len(s.Root().Children))
	}
}

// TestUnmarshalShallow: the envelope and search fields are there at once,
// the tree only when asked for, equal to a whole decode; a corrupt tree is
// refused up front.
func TestUnmarshalShallow(t *testing.T) {
	msg := []byte("From: a@b\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nhi\r\n--x\r\nContent-Type: text/html\r\n\r\n<p>\r\n--x--\r\n")
	s := mustParse(t, msg)
	enc, _ := s.Marshal()
	sh, err := UnmarshalShallow(enc)
	if err != nil {
		t.Fatal(err)
	}
	if sh.Body != nil {
		t.Error("shallow decode built the part tree")
	}
	if sh.Envelope.Subject != "s" || sh.Search.Subject != "s" {
		t.Errorf("envelope/search not decoded: %+v", sh.Envelope)
	}
	if r := sh.Root(); r == nil || len(r.Children) != 2 || r.Children[1].Subtype != "html" {
		t.Fatalf("Root after shallow decode: %+v", r)
	}
	again, _ := sh.Marshal()
	if !bytes.Equal(again, enc) {
		t.Error("shallow structure does not re-marshal identically")
	}
	for i := 1; i < len(enc); i++ {
		if _, err := UnmarshalShallow(enc[:i]); err == nil {
			t.Fatalf("truncated at %d accepted", i)
		}
	}
	bad := bytes.Clone(enc)
	bad[len(bad)-3] = 0xff // inside the tree
	if s, err := UnmarshalShallow(bad); err == nil {
		s.Root()
	}
}

// BenchmarkParsePartBomb parses the 5.6 MB message of 800,000 empty parts:
// the cost of the worst small message anyone can mail.
func BenchmarkParsePartBomb(b *testing.B) {
	msg := flatBomb(800_000)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := Parse(bytes.NewReader(msg))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSearchFieldsDerived: version 3 stores only the search fields that
// differ from what the envelope determines, and every field reads back as
// it was, derived or stored.
func TestSearchFieldsDerived(t *testing.T) {
	msg := []byte("From: =?utf-8?q?Andr=C3=A9?= <a@b>\r\nCc: c@d, e@f\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nDate: Tue, 1 Dec 2026 10:00:00 +0100\r\nMessage-ID: <m@x>\r\nIn-Reply-To: <p@x> (comment)\r\nReferences: <o@x> <p@x>\r\n\r\nbody\r\n")
	s := mustParse(t, msg)
	enc, _ := s.Marshal()
	got, err := Unmarshal(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !sameSearch(got.Search, s.Search) || got.Search.Subject != "café" || got.Search.InReplyTo != "<p@x>" {
		t.Fatalf("search fields %+v, want %+v", got.Search, s.Search)
	}
	// A header without encoded words stores only the Date and References:
	// the mask, the date, the list.
	plain := mustParse(t, []byte("From: Andre <a@b>\r\nCc: c@d\r\nSubject: cafe\r\nDate: Tue, 1 Dec 2026 10:00:00 +0100\r\nMessage-ID: <m@x>\r\nIn-Reply-To: <p@x>\r\nReferences: <o@x> <p@x>\r\n\r\nbody\r\n"))
	e, date := encoder{}, encoder{}
	e.searchV3(&plain.Search, &plain.Envelope)
	date.putTime(plain.Search.Date)
	if want := 1 + len(date.buf) + 1 + 2*(1+5); len(e.buf) != want {
		t.Errorf("search fields take %d bytes, want %d", len(e.buf), want)
	}
	enc, _ = plain.Marshal()
	if got, err := Unmarshal(enc); err != nil || !sameSearch(got.Search, plain.Search) {
		t.Fatalf("search fields %+v, want %+v (%v)", got.Search, plain.Search, err)
	}
	// Fields that differ from the envelope's (a structure stored by older
	// code, say) are kept as they were.
	odd := *s
	odd.Search.Subject, odd.Search.Cc, odd.Search.Date, odd.Search.MessageID = "other", "", time.Time{}, "<n@x>"
	enc, _ = odd.Marshal()
	got, err = Unmarshal(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !sameSearch(got.Search, odd.Search) {
		t.Fatalf("search fields %+v, want %+v", got.Search, odd.Search)
	}
}

func sameSearch(a, b SearchFields) bool {
	return a.Subject == b.Subject && a.From == b.From && a.To == b.To && a.Cc == b.Cc && a.Bcc == b.Bcc &&
		sameTime(a.Date, b.Date) && a.MessageID == b.MessageID && a.InReplyTo == b.InReplyTo &&
		reflect.DeepEqual(a.References, b.References)
}
