package message

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Specifier is the part of a BODY[...] section after the part number
// (RFC 9051 6.4.5, section-msgtext / section-text).
type Specifier uint8

const (
	// SpecNone is BODY[] (the whole message) or BODY[n] (a part's body).
	SpecNone Specifier = iota
	// SpecHeader is HEADER: the message header with its blank line.
	SpecHeader
	// SpecHeaderFields is HEADER.FIELDS (Fields).
	SpecHeaderFields
	// SpecHeaderFieldsNot is HEADER.FIELDS.NOT (Fields).
	SpecHeaderFieldsNot
	// SpecText is TEXT: the message body without its header.
	SpecText
	// SpecMIME is n.MIME: the MIME header of part n.
	SpecMIME
)

// SectionSpec is a parsed BODY[...] section.
type SectionSpec struct {
	// Part is the part number path, e.g. [2 1] for "2.1"; empty for the
	// whole message.
	Part []int
	// Specifier is what to take of the part.
	Specifier Specifier
	// Fields are the header field names of HEADER.FIELDS(.NOT), matched
	// case-insensitively.
	Fields []string
}

// Lookup finds the part that a part number path names (RFC 9051 6.4.5). A
// message that is not multipart has only part 1, its own body; the parts of
// an encapsulated message are numbered below its message/rfc822 part. It
// returns nil when no such part exists; an empty path gives s.Root().
func (s *Structure) Lookup(path []int) *Part {
	cur := s.Root()
	for i, n := range path {
		if i > 0 {
			if cur.Message == nil {
				if !cur.IsMultipart() {
					return nil
				}
			} else {
				cur = cur.Message.Body
			}
		}
		if cur.IsMultipart() {
			if n < 1 || n > len(cur.Children) {
				return nil
			}
			cur = cur.Children[n-1]
		} else if n != 1 {
			return nil
		}
	}
	return cur
}

// Range returns the offset and length, in the stored message, of a section
// that is a plain slice (every Specifier but the HEADER.FIELDS forms), and
// false when the section names no existing part or is a filtered form.
func (s *Structure) Range(spec SectionSpec) (off, n int64, ok bool) {
	p := s.Lookup(spec.Part)
	if p == nil {
		return 0, 0, false
	}
	msg := s.Root()
	if len(spec.Part) > 0 {
		msg = nil
		if p.Message != nil {
			msg = p.Message.Body
		}
	}
	switch spec.Specifier {
	case SpecNone:
		if len(spec.Part) == 0 {
			return 0, s.Size, true
		}
		return p.BodyOffset, p.Size(), true
	case SpecMIME:
		if len(spec.Part) == 0 {
			return 0, 0, false
		}
		return p.HeaderOffset, p.BodyOffset - p.HeaderOffset, true
	case SpecHeader:
		if msg == nil {
			return 0, 0, false
		}
		return msg.HeaderOffset, msg.BodyOffset - msg.HeaderOffset, true
	case SpecText:
		if msg == nil {
			return 0, 0, false
		}
		return msg.BodyOffset, msg.Size(), true
	}
	return 0, 0, false
}

// Section returns the content of BODY[spec] read from r, the stored message.
// Every form but HEADER.FIELDS(.NOT) reads r directly (ranges for partial
// fetches can be cut from the returned reader); those two are filtered into
// memory: the header fields that match (or do not) in their original order
// and the blank line that ends the header (RFC 9051 6.4.5). A section naming
// a part that does not exist, or HEADER/TEXT of a part that is not an
// encapsulated message, is empty. Only read errors are returned.
func Section(s *Structure, r io.ReaderAt, spec SectionSpec) (*io.SectionReader, error) {
	if spec.Specifier != SpecHeaderFields && spec.Specifier != SpecHeaderFieldsNot {
		off, n, ok := s.Range(spec)
		if !ok {
			return io.NewSectionReader(bytes.NewReader(nil), 0, 0), nil
		}
		return io.NewSectionReader(r, off, n), nil
	}
	hs := spec
	hs.Specifier = SpecHeader
	off, n, ok := s.Range(hs)
	if !ok {
		return io.NewSectionReader(bytes.NewReader(nil), 0, 0), nil
	}
	out, err := filterHeader(io.NewSectionReader(r, off, n), spec.Fields, spec.Specifier == SpecHeaderFields)
	if err != nil {
		return nil, err
	}
	return io.NewSectionReader(bytes.NewReader(out), 0, int64(len(out))), nil
}

// filterHeader copies the fields of a header whose names are (keep) or are
// not (!keep) in names, then a blank line, using the header's own line
// break style.
func filterHeader(r io.Reader, names []string, keep bool) ([]byte, error) {
	br := bufio.NewReaderSize(r, 4096)
	var out bytes.Buffer
	include := false
	newline := "\r\n"
	first := true
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if first && line[len(line)-1] == '\n' {
				first = false
				if len(line) < 2 || line[len(line)-2] != '\r' {
					newline = "\n"
				}
			}
			if isBlankLine(line) {
				break
			}
			if line[0] != ' ' && line[0] != '\t' {
				include = !keep
				if colon := bytes.IndexByte(line, ':'); colon > 0 {
					name := strings.TrimRight(string(line[:colon]), " \t")
					for _, n := range names {
						if strings.EqualFold(n, name) {
							include = keep
							break
						}
					}
				}
			}
			if include {
				out.Write(line)
			}
		}
		if err == bufio.ErrBufferFull {
			// The rest of a long line continues the same field.
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				if include {
					out.Write(line)
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("message: reading header: %w", err)
		}
	}
	// A last field without its line break still gets one before the
	// blank line.
	if b := out.Bytes(); len(b) > 0 && b[len(b)-1] != '\n' {
		out.WriteString(newline)
	}
	out.WriteString(newline)
	return out.Bytes(), nil
}

// Decoded returns BINARY[path] (RFC 3516): the body of a leaf part with its
// Content-Transfer-Encoding undone, streamed from r, and its length, which
// is Part.DecodedSize (BINARY.SIZE). An empty path is the whole message,
// unchanged. A message/rfc822 part is returned as stored. A path naming no
// part gives an empty reader; a part with an unknown encoding gives
// ErrUnknownEncoding.
func Decoded(s *Structure, r io.ReaderAt, path []int) (io.Reader, int64, error) {
	if len(path) == 0 {
		return io.NewSectionReader(r, 0, s.Size), s.Size, nil
	}
	p := s.Lookup(path)
	if p == nil {
		return bytes.NewReader(nil), 0, nil
	}
	if p.UnknownEncoding {
		return nil, 0, ErrUnknownEncoding
	}
	raw := io.NewSectionReader(r, p.BodyOffset, p.Size())
	if p.IsMultipart() || p.Message != nil {
		return raw, p.Size(), nil
	}
	k := classifyEncoding(p.Encoding)
	if k == encIdentity {
		return raw, p.Size(), nil
	}
	return newDecodeReader(raw, newTransferDecoder(k), p.Size()), p.DecodedSize, nil
}

// BinarySize is BINARY.SIZE[path]: the decoded size of the part, or -1 and
// ErrUnknownEncoding, or 0 for a path naming no part.
func BinarySize(s *Structure, path []int) (int64, error) {
	if len(path) == 0 {
		return s.Size, nil
	}
	p := s.Lookup(path)
	switch {
	case p == nil:
		return 0, nil
	case p.UnknownEncoding:
		return -1, ErrUnknownEncoding
	case p.IsMultipart() || p.Message != nil:
		return p.Size(), nil
	}
	return p.DecodedSize, nil
}
