package wire

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// maxQuoted is the longest string written quoted; longer ones are sent as
// literals, which clients parse without scanning for escapes.
const maxQuoted = 1024

// Encoder writes responses. Methods append to a buffer and return the
// Encoder so that a response reads left to right; the first write error
// sticks and is returned by Flush and Err. Nothing reaches the client
// before Flush.
type Encoder struct {
	w   *bufio.Writer
	err error
	num [20]byte // scratch space for formatting numbers without allocating
	up  [64]byte // scratch space for StringUpper

	// UTF8 says the client accepts UTF-8 in quoted strings and mailbox
	// names: it enabled IMAP4rev2 or UTF8=ACCEPT (RFC 9051, RFC 6855).
	// Otherwise 8-bit strings go out as literals and mailbox names in
	// modified UTF-7.
	UTF8 bool
	// then, when set, runs after each Flush has emptied w: a compressing
	// layer under w (COMPRESS, RFC 4978) pushes its output to the socket.
	then func() error
}

// NewEncoder returns an encoder writing to w.
func NewEncoder(w *bufio.Writer) *Encoder { return &Encoder{w: w} }

// NewFlushingEncoder returns an encoder writing to w whose Flush, once w
// is flushed, also calls flush (say, a compressor's Flush), so that what
// was written reaches the client.
func NewFlushingEncoder(w *bufio.Writer, flush func() error) *Encoder {
	return &Encoder{w: w, then: flush}
}

// Err returns the first write error.
func (e *Encoder) Err() error { return e.err }

// Flush sends what has been written.
func (e *Encoder) Flush() error {
	if e.err == nil {
		err := e.w.Flush()
		if err == nil && e.then != nil {
			err = e.then()
		}
		if err != nil {
			e.err = fmt.Errorf("wire: writing response: %w", err)
		}
	}
	return e.err
}

func (e *Encoder) raw(s string) *Encoder {
	if e.err == nil {
		if _, err := e.w.WriteString(s); err != nil {
			e.err = fmt.Errorf("wire: writing response: %w", err)
		}
	}
	return e
}

// Raw writes s as it is; the caller vouches that it is valid at this
// point of the response (a response code, a fixed keyword sequence).
func (e *Encoder) Raw(s string) *Encoder { return e.raw(s) }

// Atom writes an atom (the caller vouches that it is one).
func (e *Encoder) Atom(s string) *Encoder { return e.raw(s) }

// SP writes a space.
func (e *Encoder) SP() *Encoder { return e.raw(" ") }

// CRLF ends a response line.
func (e *Encoder) CRLF() *Encoder { return e.raw("\r\n") }

// Special writes one delimiter byte such as '(' or ']'.
func (e *Encoder) Special(b byte) *Encoder {
	if e.err == nil {
		if err := e.w.WriteByte(b); err != nil {
			e.err = fmt.Errorf("wire: writing response: %w", err)
		}
	}
	return e
}

// Number writes a 32-bit number.
func (e *Encoder) Number(n uint32) *Encoder { return e.Number64(uint64(n)) }

// Number64 writes a 64-bit number. Responses such as a FETCH per message
// write millions of numbers, so this one does not allocate.
func (e *Encoder) Number64(n uint64) *Encoder {
	if e.err == nil {
		if _, err := e.w.Write(strconv.AppendUint(e.num[:0], n, 10)); err != nil {
			e.err = fmt.Errorf("wire: writing response: %w", err)
		}
	}
	return e
}

// NIL writes NIL.
func (e *Encoder) NIL() *Encoder { return e.raw("NIL") }

// Text writes human-readable resp-text, dropping what cannot appear there
// (CR, LF).
func (e *Encoder) Text(s string) *Encoder {
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' || s[i] == '\n' {
			b := []byte(s)
			for j := range b {
				if b[j] == '\r' || b[j] == '\n' {
					b[j] = ' '
				}
			}
			return e.raw(string(b))
		}
	}
	return e.raw(s)
}

// needsLiteral reports whether s cannot be sent as a quoted string to this
// client.
func (e *Encoder) needsLiteral(s string) bool {
	if len(s) > maxQuoted {
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' || c == 0 {
			return true
		}
		if c >= 0x80 && !e.UTF8 {
			return true
		}
	}
	// RFC 9051 9: QUOTED-CHAR admits only valid UTF-8.
	return !utf8.ValidString(s)
}

// Quoted writes s as a quoted string, escaping '"' and '\'. The caller
// vouches that s has no CR, LF or (for IMAP4rev1 clients) 8-bit bytes;
// String chooses for itself.
func (e *Encoder) Quoted(s string) *Encoder {
	e.Special('"')
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			e.raw(s[start:i]).Special('\\')
			start = i
		}
	}
	return e.raw(s[start:]).Special('"')
}

// String writes s as a quoted string when it can be one for this client,
// and as a literal otherwise.
func (e *Encoder) String(s string) *Encoder {
	if e.needsLiteral(s) {
		e.raw("{").Number64(uint64(len(s))).raw("}\r\n")
		return e.raw(s)
	}
	return e.Quoted(s)
}

// StringUpper writes strings.ToUpper(s) as String would, without
// allocating when s is ASCII: BODYSTRUCTURE writes its type names,
// subtypes, encodings and parameter names so, for every part of every
// message.
func (e *Encoder) StringUpper(s string) *Encoder {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return e.String(strings.ToUpper(s))
		}
	}
	// Upper-casing ASCII keeps the length and every byte that makes a
	// literal necessary.
	if e.needsLiteral(s) {
		e.raw("{").Number64(uint64(len(s))).raw("}\r\n")
		return e.rawUpper(s)
	}
	e.Special('"')
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			e.rawUpper(s[start:i]).Special('\\')
			start = i
		}
	}
	return e.rawUpper(s[start:]).Special('"')
}

// rawUpper writes ASCII s upper-cased, through e.up.
func (e *Encoder) rawUpper(s string) *Encoder {
	for len(s) > 0 && e.err == nil {
		n := copy(e.up[:], s)
		for i, c := range e.up[:n] {
			if 'a' <= c && c <= 'z' {
				e.up[i] = c - ('a' - 'A')
			}
		}
		if _, err := e.w.Write(e.up[:n]); err != nil {
			e.err = fmt.Errorf("wire: writing response: %w", err)
		}
		s = s[n:]
	}
	return e
}

// Nstring writes s, or NIL when ok is false.
func (e *Encoder) Nstring(s string, ok bool) *Encoder {
	if !ok {
		return e.NIL()
	}
	return e.String(s)
}

// Astring writes s as an atom when it is one (and not NIL), else as a
// string.
func (e *Encoder) Astring(s string) *Encoder {
	if s == "" || len(s) > maxQuoted || (len(s) == 3 && (s[0]|0x20) == 'n' && (s[1]|0x20) == 'i' && (s[2]|0x20) == 'l') {
		return e.String(s)
	}
	for i := 0; i < len(s); i++ {
		if !IsAstringChar(s[i]) {
			return e.String(s)
		}
	}
	return e.raw(s)
}

// Mailbox writes a mailbox name: modified UTF-7 for IMAP4rev1 clients,
// UTF-8 for the others (RFC 9051 5.1, RFC 6855 3).
func (e *Encoder) Mailbox(name string) *Encoder {
	if !e.UTF8 {
		name = EncodeMUTF7(name)
	}
	return e.Astring(name)
}

// Literal writes a literal of size bytes copied from r. If r ends early
// the response is broken beyond repair, so the error sticks.
func (e *Encoder) Literal(size int64, r io.Reader) *Encoder {
	return e.literal("{", size, r)
}

// Literal8 writes a literal8 (RFC 3516 "~{n}") for binary content.
func (e *Encoder) Literal8(size int64, r io.Reader) *Encoder {
	return e.literal("~{", size, r)
}

func (e *Encoder) literal(open string, size int64, r io.Reader) *Encoder {
	e.raw(open).Number64(uint64(size)).raw("}\r\n")
	if e.err != nil {
		return e
	}
	src := &sourceReader{r: r}
	n, err := io.CopyN(e.w, src, size)
	switch {
	case err == nil:
	case src.err == io.EOF && err == io.EOF:
		e.err = &SourceError{Short: size - n, Err: io.ErrUnexpectedEOF}
	case src.err != nil && src.err != io.EOF:
		e.err = &SourceError{Short: size - n, Err: err}
	default:
		e.err = fmt.Errorf("wire: literal short by %d bytes: %w", size-n, err)
	}
	return e
}

// List writes a parenthesized list of n elements, calling elem for each;
// the encoder writes the separating spaces.
func (e *Encoder) List(n int, elem func(i int)) *Encoder {
	e.Special('(')
	for i := 0; i < n; i++ {
		if i > 0 {
			e.SP()
		}
		elem(i)
	}
	return e.Special(')')
}

// Flags writes a flag list, system flags first (the order of FlagNames),
// without allocating.
func (e *Encoder) Flags(f store.Flags) *Encoder { return e.FlagsRecent(f, false) }

// FlagsRecent writes a flag list like Flags, with \Recent after the system
// flags when recent is set (IMAP4rev1 sessions, RFC 3501 2.3.2).
func (e *Encoder) FlagsRecent(f store.Flags, recent bool) *Encoder {
	e.Special('(')
	first := true
	for _, s := range systemFlags {
		if f.System&s.flag != 0 {
			if !first {
				e.SP()
			}
			e.raw(s.name)
			first = false
		}
	}
	if recent {
		if !first {
			e.SP()
		}
		e.raw(`\Recent`)
		first = false
	}
	for _, k := range f.Keywords {
		if !first {
			e.SP()
		}
		e.raw(k)
		first = false
	}
	return e.Special(')')
}

// SeqSet writes a sequence set.
func (e *Encoder) SeqSet(s SeqSet) *Encoder { return e.raw(s.String()) }

// UIDSet writes a UID set in sequence-set syntax.
func (e *Encoder) UIDSet(s store.UIDSet) *Encoder { return e.raw(s.String()) }

// DateTime writes a quoted date-time (RFC 9051 9).
func (e *Encoder) DateTime(t time.Time) *Encoder {
	return e.Special('"').raw(t.Format(DateTimeLayout)).Special('"')
}
