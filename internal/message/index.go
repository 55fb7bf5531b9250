package message

import (
	"bytes"
	"io"
	"strings"
	"unicode/utf8"
)

// Text for a full-text index. A store that keeps a substring index
// (SQLite FTS5 trigram, PostgreSQL pg_trgm) indexes, per message, the
// exact text the SEARCH scans of this file read, already case-folded, so
// that "the folded needle is a substring of the indexed text" is the same
// test as the scan's. The scan matches each header field and each text
// part on its own, never across two of them; the indexed text keeps them
// apart with IndexSeparator, which no needle an index is asked for may
// contain (IndexableNeedle).

// IndexSeparator separates the pieces of indexed text that a search string
// never spans: header fields, body parts, addresses of a group name. It is
// a Unicode noncharacter, and a NUL in the text (which no IMAP string can
// hold) is replaced by it too, since some engines end text at a NUL.
const IndexSeparator = '\uFFFF'

// MaxIndexedBody bounds the folded body text indexed for one message.
// Past it the index holds the first MaxIndexedBody bytes and marks the
// message incomplete (IndexText.Partial): its hits are then confirmed by a
// scan.
const MaxIndexedBody = 4 << 20

// IndexText is the folded text of one message, by the SEARCH keys that
// read it.
type IndexText struct {
	// Header is every field of the top-level header as TEXT reads it,
	// "Name: decoded value", fields apart.
	Header string
	// Body is what BODY reads: each text part decoded, and the header
	// fields of encapsulated messages.
	Body string
	// Subject, From, To, Cc and Bcc are what SUBJECT, FROM, TO, CC and BCC
	// compare: the decoded field, and for the address keys the names of
	// groups in the field.
	Subject, From, To, Cc, Bcc string
	// Partial is set when Body was cut at MaxIndexedBody, or a part could
	// not be read: the index cannot rule the message out.
	Partial bool
}

// Fold returns the case-folded form of s that SEARCH compares, with NUL
// mapped to IndexSeparator.
func Fold(s string) string { return string(foldIndex(nil, []byte(s))) }

func foldIndex(dst, src []byte) []byte {
	start := len(dst)
	dst = foldAppend(dst, src)
	if bytes.IndexByte(dst[start:], 0) >= 0 {
		out := append([]byte(nil), dst[:start]...)
		for _, c := range dst[start:] {
			if c == 0 {
				out = utf8.AppendRune(out, IndexSeparator)
			} else {
				out = append(out, c)
			}
		}
		return out
	}
	return dst
}

// IndexableNeedle returns the folded form of a search string and whether
// an index of IndexText can decide it exactly: at least three characters
// (one trigram) and no IndexSeparator.
func IndexableNeedle(s string) (string, bool) {
	f := string(foldAppend(nil, []byte(s)))
	if utf8.RuneCountInString(f) < 3 || strings.ContainsRune(f, IndexSeparator) || strings.IndexByte(f, 0) >= 0 {
		return f, false
	}
	return f, true
}

// BuildIndexText computes the indexed text of a message from its parsed
// structure and bytes. It reads exactly what HeaderContains, TextContains
// and BodyContains read. An error comes only from reading r.
func BuildIndexText(s *Structure, r io.ReaderAt) (IndexText, error) {
	var t IndexText
	t.Subject = Fold(s.Search.Subject)
	t.From = addrText(s.Search.From, s.Envelope.From)
	t.To = addrText(s.Search.To, s.Envelope.To)
	t.Cc = addrText(s.Search.Cc, s.Envelope.Cc)
	t.Bcc = addrText(s.Search.Bcc, s.Envelope.Bcc)
	root := s.Root()
	h, err := headerText(nil, r, root)
	if err != nil {
		return t, err
	}
	t.Header = string(h)
	b := &indexBuilder{}
	if err := b.part(root, r); err != nil {
		return t, err
	}
	t.Body, t.Partial = string(b.out), b.partial
	return t, nil
}

func addrText(field string, list []Address) string {
	out := foldIndex(nil, []byte(field))
	if g := GroupNames(list); g != "" {
		out = utf8.AppendRune(out, IndexSeparator)
		out = foldIndex(out, []byte(g))
	}
	return string(out)
}

// headerText appends the fields of p's header as headerMatches reads them.
func headerText(dst []byte, r io.ReaderAt, p *Part) ([]byte, error) {
	h, err := readHeader(r, p)
	if err != nil {
		return dst, err
	}
	for _, f := range splitFields(nil, h) {
		if f.name == nil {
			continue
		}
		if len(dst) > 0 {
			dst = utf8.AppendRune(dst, IndexSeparator)
		}
		dst = foldIndex(dst, []byte(string(f.name)+": "+DecodeHeader(unfold(f.val))))
	}
	return dst, nil
}

type indexBuilder struct {
	out     []byte
	partial bool
}

func (b *indexBuilder) sep() {
	if len(b.out) > 0 {
		b.out = utf8.AppendRune(b.out, IndexSeparator)
	}
}

// part mirrors partContains.
func (b *indexBuilder) part(p *Part, r io.ReaderAt) error {
	if b.partial {
		return nil
	}
	switch {
	case p.Message != nil:
		h, err := headerText(nil, r, p.Message.Body)
		if err != nil {
			return err
		}
		if len(h) > 0 {
			b.sep()
			b.out = append(b.out, h...)
		}
		return b.part(p.Message.Body, r)
	case p.IsMultipart():
		for _, c := range p.Children {
			if err := b.part(c, r); err != nil {
				return err
			}
		}
		return nil
	case p.Type != "text" || p.Size() == 0:
		return nil
	}
	var body io.Reader = io.NewSectionReader(r, p.BodyOffset, p.Size())
	if k := classifyEncoding(p.Encoding); k == encBase64 || k == encQP {
		in := decodeBufs.Get().(*[]byte)
		defer decodeBufs.Put(in)
		body = &decodeReader{src: body, dec: newTransferDecoder(k), in: *in}
	}
	text, err := io.ReadAll(io.LimitReader(charsetReader(p, body), MaxIndexedBody+1))
	if err != nil {
		return err
	}
	if len(b.out)+len(text) > MaxIndexedBody {
		b.partial = true
		return nil
	}
	b.sep()
	b.out = foldIndex(b.out, text)
	if len(b.out) > MaxIndexedBody {
		b.partial = true
	}
	return nil
}
