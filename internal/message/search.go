package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// SEARCH string matching (RFC 9051 6.4.4): substrings, compared after
// simple Unicode case folding, against text decoded to UTF-8 (transfer
// encodings undone, charsets converted, RFC 2047 words decoded).

// Matcher tests whether decoded text contains one search string. Make one
// per SEARCH key and reuse it across messages.
type Matcher struct {
	needle []byte // folded
}

// NewMatcher prepares a case-insensitive substring search for s.
func NewMatcher(s string) *Matcher {
	return &Matcher{needle: foldAppend(nil, []byte(s))}
}

// Empty reports whether the search string is empty (it matches anything).
func (m *Matcher) Empty() bool { return len(m.needle) == 0 }

// MatchString reports whether s contains the search string. Use it with the
// precomputed SearchFields (SUBJECT, FROM, TO, CC, BCC keys).
func (m *Matcher) MatchString(s string) bool {
	if len(m.needle) == 0 {
		return true
	}
	return bytes.Contains(foldAppend(nil, []byte(s)), m.needle)
}

// foldRune maps a rune to a representative of its simple case folding
// class (ASCII fast path in foldAppend).
func foldRune(r rune) rune {
	return unicode.ToLower(unicode.ToUpper(r))
}

// foldAppend appends the case-folded form of UTF-8 text to dst; invalid
// bytes become U+FFFD.
func foldAppend(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		c := src[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(src[i:])
		dst = utf8.AppendRune(dst, foldRune(r))
		i += n
	}
	return dst
}

var errFound = errors.New("found")

// copyBufs and decodeBufs recycle the buffers of body searches.
var (
	copyBufs   = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
	decodeBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
)

// streamMatcher is a writer that looks for the needle across writes.
type streamMatcher struct {
	needle  []byte
	window  []byte // folded text, at most the needle's length minus one kept between writes
	partial []byte // an incomplete UTF-8 sequence from the previous write
	found   bool
}

func (w *streamMatcher) Write(p []byte) (int, error) {
	if w.found {
		return len(p), errFound
	}
	data := p
	if len(w.partial) > 0 {
		data = append(w.partial, p...)
		w.partial = nil
	}
	cut := len(data)
	for i := len(data) - 1; i >= 0 && i >= len(data)-utf8.UTFMax; i-- {
		if utf8.RuneStart(data[i]) {
			if !utf8.FullRune(data[i:]) {
				cut = i
			}
			break
		}
	}
	w.window = foldAppend(w.window, data[:cut])
	if bytes.Contains(w.window, w.needle) {
		w.found = true
		return len(p), errFound
	}
	if keep := len(w.needle) - 1; len(w.window) > keep {
		w.window = append(w.window[:0], w.window[len(w.window)-keep:]...)
	}
	w.partial = append(w.partial, data[cut:]...)
	return len(p), nil
}

// matchReader reports whether the text of r contains the needle.
func matchReader(m *Matcher, r io.Reader) (bool, error) {
	if len(m.needle) == 0 {
		return true, nil
	}
	w := &streamMatcher{needle: m.needle}
	buf := copyBufs.Get().(*[]byte)
	_, err := io.CopyBuffer(w, r, *buf)
	copyBufs.Put(buf)
	if w.found {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	// Flush an incomplete sequence at the end as U+FFFD.
	if len(w.partial) > 0 {
		w.window = foldAppend(w.window, w.partial)
		return bytes.Contains(w.window, w.needle), nil
	}
	return false, nil
}

// readHeader reads a part's header, at most MaxHeaderBytes of it.
func readHeader(r io.ReaderAt, p *Part) ([]byte, error) {
	n := min(p.BodyOffset-p.HeaderOffset, MaxHeaderBytes)
	b := make([]byte, n)
	if _, err := r.ReadAt(b, p.HeaderOffset); err != nil && !(err == io.EOF && n == 0) {
		return nil, fmt.Errorf("message: reading header: %w", err)
	}
	return b, nil
}

// HeaderContains implements SEARCH HEADER name value: whether the message
// has a header field called name (case-insensitive) whose decoded value
// contains the search string. An empty search string matches any message
// that has the field.
func HeaderContains(s *Structure, r io.ReaderAt, name string, m *Matcher) (bool, error) {
	h, err := readHeader(r, s.Root())
	if err != nil {
		return false, err
	}
	for _, f := range splitFields(nil, h) {
		if f.name == nil || !strings.EqualFold(string(f.name), name) {
			continue
		}
		if m.Empty() || m.MatchString(DecodeHeader(unfold(f.val))) {
			return true, nil
		}
	}
	return false, nil
}

// headerMatches searches every field of a header, "Name: decoded value".
func headerMatches(r io.ReaderAt, p *Part, m *Matcher) (bool, error) {
	h, err := readHeader(r, p)
	if err != nil {
		return false, err
	}
	for _, f := range splitFields(nil, h) {
		if f.name == nil {
			continue
		}
		if m.MatchString(string(f.name) + ": " + DecodeHeader(unfold(f.val))) {
			return true, nil
		}
	}
	return false, nil
}

// BodyContains implements SEARCH BODY: whether a text/* part of the message
// (at any depth, including inside encapsulated messages) or the header of an
// encapsulated message contains the search string, once transfer encoding
// and charset are decoded.
func BodyContains(s *Structure, r io.ReaderAt, m *Matcher) (bool, error) {
	if m.Empty() {
		return true, nil
	}
	return partContains(s.Root(), r, m)
}

// TextContains implements SEARCH TEXT: the header or the body.
func TextContains(s *Structure, r io.ReaderAt, m *Matcher) (bool, error) {
	if ok, err := headerMatches(r, s.Root(), m); ok || err != nil {
		return ok, err
	}
	return BodyContains(s, r, m)
}

func partContains(p *Part, r io.ReaderAt, m *Matcher) (bool, error) {
	switch {
	case p.Message != nil:
		if ok, err := headerMatches(r, p.Message.Body, m); ok || err != nil {
			return ok, err
		}
		return partContains(p.Message.Body, r, m)
	case p.IsMultipart():
		for _, c := range p.Children {
			if ok, err := partContains(c, r, m); ok || err != nil {
				return ok, err
			}
		}
		return false, nil
	case p.Type != "text" || p.Size() == 0:
		return false, nil
	}
	var body io.Reader = io.NewSectionReader(r, p.BodyOffset, p.Size())
	if k := classifyEncoding(p.Encoding); k == encBase64 || k == encQP {
		in := decodeBufs.Get().(*[]byte)
		defer decodeBufs.Put(in)
		body = &decodeReader{src: body, dec: newTransferDecoder(k), in: *in}
	}
	return matchReader(m, charsetReader(p, body))
}

// TextReader returns the body of a leaf part as UTF-8: transfer encoding
// undone and charset converted. An unknown encoding is read as stored, an
// unknown charset as UTF-8.
func TextReader(p *Part, r io.ReaderAt) (io.Reader, error) {
	var body io.Reader = io.NewSectionReader(r, p.BodyOffset, p.Size())
	if k := classifyEncoding(p.Encoding); k == encBase64 || k == encQP {
		body = newDecodeReader(body, newTransferDecoder(k), p.Size())
	}
	return charsetReader(p, body), nil
}

// charsetReader converts body from p's charset to UTF-8; unknown charsets
// are passed through.
func charsetReader(p *Part, body io.Reader) io.Reader {
	switch cs := strings.ToLower(p.Param("charset")); cs {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return body
	default:
		if cr, err := charset.Reader(cs, body); err == nil {
			return cr
		}
	}
	return body
}
