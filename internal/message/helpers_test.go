package message

import (
	"bytes"
	"fmt"
	"github.com/tidemark-mail/tidemark/internal/corpus"
	"io"
	"os"
	"testing"
)

var benchMbox = corpus.Path()

// splitMbox cuts an mboxrd file into messages: the "From " separator line
// is dropped, ">From " quoting undone, and the blank line that ends each
// message in the mbox removed.
func splitMbox(data []byte) [][]byte {
	var msgs [][]byte
	var cur []byte
	started := false
	flush := func() {
		if started {
			msgs = append(msgs, bytes.TrimSuffix(cur, []byte("\n")))
		}
		cur = nil
	}
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var line []byte
		if i < 0 {
			line, data = data, nil
		} else {
			line, data = data[:i+1], data[i+1:]
		}
		if bytes.HasPrefix(line, []byte("From ")) {
			flush()
			started = true
			continue
		}
		if s := bytes.TrimLeft(line, ">"); len(s) < len(line) && bytes.HasPrefix(s, []byte("From ")) {
			line = line[1:]
		}
		cur = append(cur, line...)
	}
	flush()
	return msgs
}

func loadMbox(tb testing.TB) [][]byte {
	tb.Helper()
	data, err := os.ReadFile(benchMbox)
	if err != nil {
		if corpus.Required() {
			tb.Fatalf("benchmark mailbox required: %v", err)
		}
		tb.Skipf("no benchmark mailbox: %v", err)
	}
	return splitMbox(data)
}

// partPaths lists every part number path of s with its part, in order.
func partPaths(s *Structure) (paths [][]int, parts []*Part) {
	var walk func(p *Part, path []int)
	walk = func(p *Part, path []int) {
		paths = append(paths, path)
		parts = append(parts, p)
		inner := p
		if p.Message != nil {
			inner = p.Message.Body
		} else if !p.IsMultipart() {
			return
		}
		if inner.IsMultipart() {
			for i, c := range inner.Children {
				walk(c, append(append([]int(nil), path...), i+1))
			}
		} else if p.Message != nil {
			walk(inner, append(append([]int(nil), path...), 1))
		}
	}
	if s.Body.IsMultipart() {
		for i, c := range s.Body.Children {
			walk(c, []int{i + 1})
		}
	} else {
		walk(s.Body, []int{1})
	}
	return paths, parts
}

func readSection(tb testing.TB, s *Structure, msg []byte, spec SectionSpec) []byte {
	tb.Helper()
	sr, err := Section(s, bytes.NewReader(msg), spec)
	if err != nil {
		tb.Fatalf("Section(%v): %v", spec, err)
	}
	b, err := io.ReadAll(sr)
	if err != nil {
		tb.Fatalf("reading section %v: %v", spec, err)
	}
	if int64(len(b)) != sr.Size() {
		tb.Fatalf("section %v: read %d bytes, size says %d", spec, len(b), sr.Size())
	}
	return b
}

// checkConsistent asserts everything that must hold for any parse of msg:
// invariants, sections equal to their offsets, decoded sizes equal to what
// Decoded produces, and a lossless Marshal/Unmarshal round trip.
func checkConsistent(tb testing.TB, msg []byte, s *Structure) {
	tb.Helper()
	if err := s.Check(); err != nil {
		tb.Fatal(err)
	}
	if s.Size != int64(len(msg)) {
		tb.Fatalf("size %d, message has %d bytes", s.Size, len(msg))
	}
	if got := readSection(tb, s, msg, SectionSpec{}); !bytes.Equal(got, msg) {
		tb.Fatalf("BODY[] differs from the message")
	}
	if got := readSection(tb, s, msg, SectionSpec{Specifier: SpecHeader}); !bytes.Equal(got, msg[:s.Body.BodyOffset]) {
		tb.Fatalf("BODY[HEADER] differs")
	}
	paths, parts := partPaths(s)
	for i, path := range paths {
		p := parts[i]
		if s.Lookup(path) != p {
			tb.Fatalf("Lookup(%v) is not the walked part", path)
		}
		if got := readSection(tb, s, msg, SectionSpec{Part: path}); !bytes.Equal(got, msg[p.BodyOffset:p.EndOffset]) {
			tb.Fatalf("BODY[%v] differs from offsets", path)
		}
		if got := readSection(tb, s, msg, SectionSpec{Part: path, Specifier: SpecMIME}); !bytes.Equal(got, msg[p.HeaderOffset:p.BodyOffset]) {
			tb.Fatalf("BODY[%v.MIME] differs from offsets", path)
		}
		if m := p.Message; m != nil {
			if got := readSection(tb, s, msg, SectionSpec{Part: path, Specifier: SpecText}); !bytes.Equal(got, msg[m.Body.BodyOffset:m.Body.EndOffset]) {
				tb.Fatalf("BODY[%v.TEXT] differs", path)
			}
		}
		if lines := int64(bytes.Count(msg[p.BodyOffset:p.EndOffset], []byte("\n"))); p.Lines != lines && p.Lines != lines+1 {
			tb.Fatalf("part %v: %d lines, body has %d LFs", path, p.Lines, lines)
		}
		if !p.IsMultipart() && p.Message == nil {
			r, n, err := Decoded(s, bytes.NewReader(msg), path)
			if p.UnknownEncoding {
				if err != ErrUnknownEncoding {
					tb.Fatalf("part %v: unknown encoding gave %v", path, err)
				}
				continue
			}
			if err != nil {
				tb.Fatal(err)
			}
			b, err := io.ReadAll(r)
			if err != nil {
				tb.Fatal(err)
			}
			if int64(len(b)) != n || n != p.DecodedSize {
				tb.Fatalf("part %v: decoded %d bytes, size %d, DecodedSize %d", path, len(b), n, p.DecodedSize)
			}
		}
	}
	enc, err := s.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	s2, err := Unmarshal(enc)
	if err != nil {
		tb.Fatal(err)
	}
	enc2, err := s2.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.Equal(enc, enc2) {
		tb.Fatalf("Marshal/Unmarshal is not lossless")
	}
	if !s.Search.Date.Equal(s2.Search.Date) {
		tb.Fatalf("date %v became %v", s.Search.Date, s2.Search.Date)
	}
}

func mustParse(tb testing.TB, msg []byte) *Structure {
	tb.Helper()
	s, err := Parse(bytes.NewReader(msg))
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return s
}

func pathString(p []int) string { return fmt.Sprint(p) }
