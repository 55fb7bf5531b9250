package wire

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Value reads an RFC 5464 metadata value: a string, NIL (ok false) or a
// literal8 ("~{n}", RFC 3516), which alone may hold NUL. Literals count
// against Limits.MaxCommandMemory like any read into memory. tooBig, if
// not nil, is asked about each literal's announced size before the client
// is asked for its bytes (SETMETADATA's "[METADATA MAXSIZE n]"); its
// error is returned as is.
func (d *Decoder) Value(tooBig func(size int64) error) (v []byte, ok bool, err error) {
	c, err := d.peek()
	if err != nil {
		return nil, false, err
	}
	switch c {
	case '"':
		s, err := d.Quoted()
		return []byte(s), err == nil, err
	case '{', '~':
		size, binary, err := d.literalHeader(d.limits.MaxCommandMemory, true, func(size int64) error {
			if tooBig != nil {
				if err := tooBig(size); err != nil {
					return err
				}
			}
			if d.inMemory+size > d.limits.MaxCommandMemory {
				return &Error{Code: CodeLimit, Text: fmt.Sprintf("literals of one command exceed %d bytes", d.limits.MaxCommandMemory)}
			}
			return nil
		})
		if err != nil {
			return nil, false, err
		}
		d.inMemory += size
		buf := make([]byte, size)
		if _, err := io.ReadFull(d.r, buf); err != nil {
			return nil, false, fmt.Errorf("wire: reading literal: %w", err)
		}
		if !binary && bytes.IndexByte(buf, 0) >= 0 {
			return nil, false, syntaxErrorf("NUL in literal")
		}
		return buf, true, nil
	}
	a, err := d.Atom()
	if err != nil {
		return nil, false, err
	}
	if !strings.EqualFold(a, "NIL") {
		return nil, false, syntaxErrorf("expected string or NIL, got %q", a)
	}
	return nil, false, nil
}

// Value writes a metadata value: a quoted string or literal, or a
// literal8 when it holds NUL (RFC 5464 5, "value").
func (e *Encoder) Value(v []byte) *Encoder {
	if bytes.IndexByte(v, 0) >= 0 {
		return e.Literal8(int64(len(v)), bytes.NewReader(v))
	}
	return e.String(string(v))
}

// PeekAfter returns the byte after the next one without consuming either,
// to tell apart two lists by their first element ("(MAXSIZE" from
// "(/private", GETMETADATA's options from its entries).
func (d *Decoder) PeekAfter() (byte, error) {
	if err := d.settle(); err != nil {
		return 0, err
	}
	b, err := d.r.Peek(2)
	if err != nil {
		return 0, err
	}
	return b[1], nil
}
