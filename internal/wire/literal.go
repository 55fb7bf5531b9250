package wire

import (
	"bytes"
	"fmt"
	"io"
)

// literalHeader reads "{n}", "{n+}", or with binary "~{n}" / "~{n+}", and
// the CRLF after it, then enforces the limits: max is the size limit for
// this kind of literal. For an accepted synchronizing literal it calls
// OnSyncLiteral. It returns the size and whether the literal is literal8.
// check, if not nil, may refuse the literal by its size before the client
// is asked for its bytes (its error is returned as is).
func (d *Decoder) literalHeader(max int64, binary bool, check func(int64) error) (size int64, isBinary bool, err error) {
	if binary && d.Special('~') {
		isBinary = true
	}
	if err := d.ExpectSpecial('{'); err != nil {
		return 0, false, err
	}
	n, err := d.Number64()
	if err != nil {
		return 0, false, err
	}
	nonSync := d.Special('+')
	if err := d.ExpectSpecial('}'); err != nil {
		return 0, false, err
	}
	if err := d.CRLF(); err != nil {
		return 0, false, err
	}
	d.ended = false // the command goes on after the literal
	size = int64(n)
	d.literals++

	var refuse error
	switch {
	case d.literals > d.limits.MaxLiterals:
		refuse = &Error{Code: CodeLimit, Text: "too many literals in one command"}
	case nonSync && d.NonSyncMax > 0 && size > d.NonSyncMax:
		// RFC 7888 5: LITERAL- servers reject larger non-synchronizing
		// literals with BAD [TOOBIG].
		refuse = &Error{Code: CodeTooBig, Text: fmt.Sprintf("non-synchronizing literals are limited to %d bytes", d.NonSyncMax)}
	case size > max:
		refuse = &Error{Code: CodeTooBig, Text: fmt.Sprintf("literal of %d bytes exceeds the limit of %d", size, max)}
	case check != nil:
		refuse = check(size)
	}
	if refuse != nil {
		if !nonSync {
			// No continuation is sent, so the client sends no bytes and
			// considers the command finished once it sees our answer.
			d.ended = true
			return 0, false, refuse
		}
		// The bytes are on their way: skip them, or give up on the
		// connection if that would mean reading too much (RFC 7888 4).
		if size > d.limits.MaxDiscard {
			d.ended = true
			if we, ok := refuse.(*Error); ok {
				we.Close = true
				return 0, false, we
			}
			return 0, false, &Error{Code: CodeTooBig, Text: "literal too large to skip", Close: true}
		}
		d.skip = size
		return 0, false, refuse
	}
	if !nonSync && d.OnSyncLiteral != nil {
		if err := d.OnSyncLiteral(size); err != nil {
			return 0, false, err
		}
	}
	return size, isBinary, nil
}

// literalString reads a literal into memory, under Limits.MaxLiteral.
func (d *Decoder) literalString() (string, error) {
	size, _, err := d.literalHeader(d.limits.MaxLiteral, false, func(size int64) error {
		if d.inMemory+size > d.limits.MaxCommandMemory {
			return &Error{Code: CodeLimit, Text: fmt.Sprintf("literals of one command exceed %d bytes", d.limits.MaxCommandMemory)}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	d.inMemory += size
	buf := make([]byte, size)
	if _, err := io.ReadFull(d.r, buf); err != nil {
		return "", fmt.Errorf("wire: reading literal: %w", err)
	}
	if bytes.IndexByte(buf, 0) >= 0 {
		return "", syntaxErrorf("NUL in literal")
	}
	return string(buf), nil
}

// Literal is a message literal being streamed from the client. Read it to
// the end (or leave it: the decoder discards what is left before reading
// the next token).
type Literal struct {
	Size   int64
	Binary bool // sent as literal8 "~{n}" (RFC 3516)
	r      io.LimitedReader
}

// Read reads the literal's bytes; it returns io.EOF after Size bytes.
func (l *Literal) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if err == io.EOF && l.r.N > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Literal reads the header of a message literal (APPEND), synchronizing,
// non-synchronizing or literal8, and returns a reader for its bytes, under
// Limits.MaxAppendLiteral.
func (d *Decoder) Literal() (*Literal, error) {
	return d.LiteralChecked(nil)
}

// LiteralChecked is Literal with a check of the announced size made
// before the client is asked for the bytes (APPEND's quota check): an
// error from check refuses the literal as the size limit does.
func (d *Decoder) LiteralChecked(check func(size int64) error) (*Literal, error) {
	size, binary, err := d.literalHeader(d.limits.MaxAppendLiteral, true, check)
	if err != nil {
		return nil, err
	}
	l := &Literal{Size: size, Binary: binary}
	l.r = io.LimitedReader{R: d.r, N: size}
	d.lit = l
	return l, nil
}
