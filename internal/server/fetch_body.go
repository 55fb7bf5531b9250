package server

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// smallBinary is the size up to which BINARY content is read into memory
// to look for NUL; larger content is scanned in a first pass, then
// streamed.
const smallBinary = 64 << 10

// partRange applies a partial "<start.count>" to content of size bytes
// (RFC 9051 6.4.5: a start beyond the end gives an empty string, a count
// beyond it is cut short).
func partRange(it *fetchItem, size int64) (off, n int64) {
	if !it.partial {
		return 0, size
	}
	if it.start >= size {
		return size, 0
	}
	return it.start, min(it.count, size-it.start)
}

// writeLabel writes an item's name and, for a partial fetch, its origin
// ("BODY[]<0>", RFC 9051 7.5.2).
func writeLabel(e *wire.Encoder, it *fetchItem) {
	e.Raw(it.name)
	if it.partial {
		e.Special('<').Number64(uint64(it.start)).Special('>')
	}
	e.SP()
}

// writeSection writes BODY[section]<partial> and the RFC822 forms.
// Message content is always a literal, even when short, empty ("{0}") or
// printable: the grammar allows a quoted string (RFC 9051 7.5.2 nstring),
// but clients such as curl's parse section data only as a literal, and
// every major server sends one. A whole message read without its
// structure is size bytes (the stored size: a literal announced from a
// damaged file's length would go out complete and wrong).
func writeSection(e *wire.Encoder, it *fetchItem, st *message.Structure, blob io.ReaderAt, size int64) error {
	var sr *io.SectionReader
	if st == nil && wholeMessage(it.spec) {
		sr = io.NewSectionReader(blob, 0, size)
	} else {
		var err error
		if sr, err = message.Section(st, blob, it.spec); err != nil {
			return err
		}
	}
	off, n := partRange(it, sr.Size())
	writeLabel(e, it)
	e.Literal(n, io.NewSectionReader(sr, off, n))
	return nil
}

// writeBinary writes BINARY[part]<partial> (RFC 3516 4.3, RFC 9051
// 6.4.5): the decoded content, as a literal, or a literal8 when it holds
// NUL. A missing part is an empty literal. Like writeSection, content is
// never a quoted string.
func writeBinary(e *wire.Encoder, it *fetchItem, st *message.Structure, blob io.ReaderAt) error {
	return writeDecodedAfter(e, st, blob, it.spec.Part, it, func() { writeLabel(e, it) })
}

// writeDecoded writes the decoded content of part path, cut to rng's
// partial, as a literal or literal8; nothing is written when it fails.
func writeDecoded(e *wire.Encoder, st *message.Structure, blob io.ReaderAt, path []int, rng *fetchItem) error {
	return writeDecodedAfter(e, st, blob, path, rng, func() {})
}

// writeDecodedAfter is writeDecoded, writing label first once the content
// is known to decode.
func writeDecodedAfter(e *wire.Encoder, st *message.Structure, blob io.ReaderAt, path []int, rng *fetchItem, label func()) error {
	open := func() (io.Reader, int64, int64, error) {
		r, size, err := message.Decoded(st, blob, path)
		if err != nil {
			return nil, 0, 0, err
		}
		off, n := partRange(rng, size)
		if off > 0 {
			if _, err := io.CopyN(io.Discard, r, off); err != nil {
				return nil, 0, 0, fmt.Errorf("decoding part %s: %w", partText(path), err)
			}
		}
		return io.LimitReader(r, n), off, n, nil
	}
	r, _, n, err := open()
	if err != nil {
		return err
	}
	label()
	if n <= smallBinary {
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return fmt.Errorf("decoding part %s: %w", partText(path), err)
		}
		if bytes.IndexByte(buf, 0) >= 0 {
			e.Literal8(n, bytes.NewReader(buf))
		} else {
			e.Literal(n, bytes.NewReader(buf))
		}
		return nil
	}
	hasNUL, err := containsNUL(r)
	if err != nil {
		return fmt.Errorf("decoding part %s: %w", partText(path), err)
	}
	if r, _, _, err = open(); err != nil {
		return err
	}
	if hasNUL {
		e.Literal8(n, r)
	} else {
		e.Literal(n, r)
	}
	return nil
}

// containsNUL reads r to its end looking for a NUL byte.
func containsNUL(r io.Reader) (bool, error) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if bytes.IndexByte(buf[:n], 0) >= 0 {
			return true, nil
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// partText formats a part number path ("1.2"), "" for the whole message.
func partText(part []int) string {
	var sb strings.Builder
	for i, n := range part {
		if i > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(strconv.Itoa(n))
	}
	return sb.String()
}
