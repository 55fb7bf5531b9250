package message

import (
	"errors"
	"fmt"
	"io"
)

// Transfer decoding (RFC 2045 6.7, 6.8) is done by push decoders that accept
// the encoded body in arbitrary chunks. The same decoders compute
// BINARY.SIZE at parse time and produce BINARY content later, so the two
// always agree. Both are lenient: characters outside the base64 alphabet are
// skipped and base64 stops at the first '='; a quoted-printable '=' that
// starts no valid escape is kept literally. Line breaks are kept as stored.

// ErrUnknownEncoding is returned by Decoded for a part whose
// Content-Transfer-Encoding is not understood (RFC 3516 UNKNOWN-CTE).
var ErrUnknownEncoding = errors.New("message: unknown content-transfer-encoding")

// transferDecoder decodes one body.
type transferDecoder interface {
	// decode appends the decoding of p to out.
	decode(out, p []byte) []byte
	// finish appends whatever the end of input completes.
	finish(out []byte) []byte
}

func newTransferDecoder(k encodingKind) transferDecoder {
	switch k {
	case encBase64:
		return &base64Decoder{}
	case encQP:
		return &qpDecoder{}
	}
	return identityDecoder{}
}

type identityDecoder struct{}

func (identityDecoder) decode(out, p []byte) []byte { return append(out, p...) }
func (identityDecoder) finish(out []byte) []byte    { return out }

var base64Values = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = int8(i)
	}
	return t
}()

type base64Decoder struct {
	acc  uint32
	n    int  // sextets in acc
	done bool // '=' seen
}

func (d *base64Decoder) decode(out, p []byte) []byte {
	if d.done {
		return out
	}
	for _, c := range p {
		v := base64Values[c]
		if v < 0 {
			if c == '=' {
				d.done = true
				return out
			}
			continue
		}
		d.acc = d.acc<<6 | uint32(v)
		d.n++
		if d.n == 4 {
			out = append(out, byte(d.acc>>16), byte(d.acc>>8), byte(d.acc))
			d.acc, d.n = 0, 0
		}
	}
	return out
}

func (d *base64Decoder) finish(out []byte) []byte {
	switch d.n {
	case 2:
		out = append(out, byte(d.acc>>4))
	case 3:
		out = append(out, byte(d.acc>>10), byte(d.acc>>2))
	}
	d.acc, d.n = 0, 0
	return out
}

// qpDecoder states.
const (
	qpText  = iota
	qpEq    // after '='
	qpEqHex // after '=' and one hex digit
	qpSoft  // after '=' and whitespace: a soft line break if the line ends
)

// maxPendingSpace bounds the whitespace held back to see whether it trails a
// line (RFC 2045 6.7 rule 3); beyond it the whitespace is emitted as text.
const maxPendingSpace = 4096

type qpDecoder struct {
	state int
	hex   byte
	space []byte // whitespace (and CR) whose fate depends on what follows
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func isQPSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }

func (d *qpDecoder) decode(out, p []byte) []byte {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch d.state {
		case qpText:
			switch {
			case c == '=':
				out = append(out, d.space...)
				d.space = d.space[:0]
				d.state = qpEq
			case isQPSpace(c):
				if len(d.space) >= maxPendingSpace {
					out = append(out, d.space...)
					d.space = d.space[:0]
				}
				d.space = append(d.space, c)
			case c == '\n':
				// Trailing whitespace is transport padding; keep
				// the line break as it was stored.
				if n := len(d.space); n > 0 && d.space[n-1] == '\r' {
					out = append(out, '\r')
				}
				d.space = d.space[:0]
				out = append(out, '\n')
			default:
				out = append(out, d.space...)
				d.space = d.space[:0]
				// Copy the run of plain bytes at once.
				j := i + 1
				for j < len(p) && p[j] != '=' && p[j] != '\n' && !isQPSpace(p[j]) {
					j++
				}
				out = append(out, p[i:j]...)
				i = j - 1
			}
		case qpEq:
			if v, ok := unhex(c); ok {
				d.hex = v
				d.state = qpEqHex
			} else if isQPSpace(c) {
				d.space = append(d.space[:0], c)
				d.state = qpSoft
			} else if c == '\n' {
				d.state = qpText // soft line break
			} else {
				out = append(out, '=')
				d.state = qpText
				i--
			}
		case qpEqHex:
			if v, ok := unhex(c); ok {
				out = append(out, d.hex<<4|v)
				d.state = qpText
			} else {
				out = append(out, '=', hexDigit(d.hex))
				d.state = qpText
				i--
			}
		case qpSoft:
			if isQPSpace(c) && len(d.space) < maxPendingSpace {
				d.space = append(d.space, c)
			} else if c == '\n' {
				d.space = d.space[:0]
				d.state = qpText
			} else {
				out = append(out, '=')
				out = append(out, d.space...)
				d.space = d.space[:0]
				d.state = qpText
				i--
			}
		}
	}
	return out
}

func hexDigit(v byte) byte { return "0123456789ABCDEF"[v&15] }

func (d *qpDecoder) finish(out []byte) []byte {
	switch d.state {
	case qpEq:
		out = append(out, '=')
	case qpEqHex:
		out = append(out, '=', hexDigit(d.hex))
	}
	// Whitespace at the very end trails the last line: padding.
	d.space = d.space[:0]
	d.state = qpText
	return out
}

// decodeReader turns a push decoder into an io.Reader over an encoded source.
type decodeReader struct {
	src  io.Reader
	dec  transferDecoder
	in   []byte
	out  []byte
	pos  int
	done bool
	err  error
}

// newDecodeReader decodes src, size bytes long, reading it through a
// buffer of at most 32 KiB: no larger than the part, since most parts are
// a few KB and a FETCH BINARY or PREVIEW of many messages makes one per
// part.
func newDecodeReader(src io.Reader, dec transferDecoder, size int64) *decodeReader {
	return &decodeReader{src: src, dec: dec, in: make([]byte, max(min(size, 32<<10), 512))}
}

func (r *decodeReader) Read(p []byte) (int, error) {
	for r.pos == len(r.out) {
		if r.done {
			return 0, r.err
		}
		r.out, r.pos = r.out[:0], 0
		n, err := r.src.Read(r.in)
		r.out = r.dec.decode(r.out, r.in[:n])
		if err != nil {
			r.done = true
			r.out = r.dec.finish(r.out)
			if err != io.EOF {
				r.err = fmt.Errorf("message: reading part: %w", err)
			} else {
				r.err = io.EOF
			}
		}
	}
	n := copy(p, r.out[r.pos:])
	r.pos += n
	return n, nil
}
