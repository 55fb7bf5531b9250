package wire

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
)

// Limits bound what one command may make the server read. Zero fields take
// the defaults of DefaultLimits.
type Limits struct {
	// MaxLine is the length of a command in bytes, all its lines together,
	// not counting literal bytes.
	MaxLine int
	// MaxLiteral is the size of a literal read into memory by String or
	// Astring (mailbox names, search strings, passwords...).
	MaxLiteral int64
	// MaxAppendLiteral is the size of a message literal streamed by Literal.
	MaxAppendLiteral int64
	// MaxLiterals is the number of literals in one command.
	MaxLiterals int
	// MaxCommandMemory is the total size of the literals of one command
	// read into memory (String, Astring): with MaxLiterals alone, one
	// SEARCH could hold a thousand 64 KiB strings.
	MaxCommandMemory int64
	// MaxDepth is how deeply parenthesized lists may nest.
	MaxDepth int
	// MaxDiscard is the largest non-synchronizing literal that is read and
	// thrown away after an error; beyond it the connection is closed.
	MaxDiscard int64
}

// DefaultLimits are the limits used for zero fields of Limits.
var DefaultLimits = Limits{
	MaxLine:          64 << 10,
	MaxLiteral:       64 << 10,
	MaxAppendLiteral: 64 << 20,
	MaxLiterals:      1000,
	MaxCommandMemory: 1 << 20,
	MaxDepth:         32,
	MaxDiscard:       1 << 20,
}

// WithDefaults returns l with every unset (zero) limit replaced by its
// DefaultLimits value.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits
	if l.MaxLine > 0 {
		d.MaxLine = l.MaxLine
	}
	if l.MaxLiteral > 0 {
		d.MaxLiteral = l.MaxLiteral
	}
	if l.MaxAppendLiteral > 0 {
		d.MaxAppendLiteral = l.MaxAppendLiteral
	}
	if l.MaxLiterals > 0 {
		d.MaxLiterals = l.MaxLiterals
	}
	if l.MaxCommandMemory > 0 {
		d.MaxCommandMemory = l.MaxCommandMemory
	}
	if l.MaxDepth > 0 {
		d.MaxDepth = l.MaxDepth
	}
	if l.MaxDiscard > 0 {
		d.MaxDiscard = l.MaxDiscard
	}
	return d
}

// Decoder reads client commands. It is not safe for concurrent use; a
// connection has exactly one.
type Decoder struct {
	r      *bufio.Reader
	limits Limits

	// OnSyncLiteral is called when a synchronizing literal has been
	// announced and accepted, before its bytes are read: the server writes
	// and flushes its continuation request there. An error from it is
	// returned by the reading method.
	OnSyncLiteral func(size int64) error
	// NonSyncMax, when non-zero, is the largest non-synchronizing literal
	// accepted: 4096 for LITERAL- (RFC 7888 5). Zero means LITERAL+.
	NonSyncMax int64

	used     int      // command bytes read outside literals
	literals int      // literals announced in this command
	inMemory int64    // bytes of this command's literals read into memory
	depth    int      // current list nesting
	lit      *Literal // a streamed literal that must be drained before reading on
	skip     int64    // literal bytes to throw away before reading on (error recovery)
	ended    bool     // the command's last byte has been read
}

// NewDecoder returns a decoder reading from r under limits.
func NewDecoder(r *bufio.Reader, limits Limits) *Decoder {
	return &Decoder{r: r, limits: limits.WithDefaults(), ended: true}
}

// Limits returns the limits in force (with defaults filled in).
func (d *Decoder) Limits() Limits { return d.limits }

// Begin starts a new command: it resets the per-command counters. Call it
// before reading a command's tag.
func (d *Decoder) Begin() {
	d.used, d.literals, d.depth, d.inMemory = 0, 0, 0, 0
	d.ended = false
}

// Ended reports whether the current command has been read to its end
// (its final CRLF, or a refused synchronizing literal after which the
// client sends nothing more).
func (d *Decoder) Ended() bool { return d.ended }

// settle drains whatever literal bytes stand between the decoder and the
// next token.
func (d *Decoder) settle() error {
	if d.lit != nil {
		if _, err := io.Copy(io.Discard, d.lit); err != nil {
			return err
		}
		d.lit = nil
	}
	if d.skip > 0 {
		n, err := d.r.Discard(int(min(d.skip, 1<<30)))
		d.skip -= int64(n)
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) count(n int) error {
	d.used += n
	if d.used > d.limits.MaxLine {
		return &Error{Code: CodeTooBig, Text: "command line too long"}
	}
	return nil
}

// peek returns the next byte without consuming it.
func (d *Decoder) peek() (byte, error) {
	if err := d.settle(); err != nil {
		return 0, err
	}
	b, err := d.r.Peek(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (d *Decoder) readByte() (byte, error) {
	if err := d.settle(); err != nil {
		return 0, err
	}
	b, err := d.r.ReadByte()
	if err != nil {
		return 0, err
	}
	if b == '\n' {
		// Whatever is being parsed, the line is over; a literal header
		// that continues the command clears this again.
		d.ended = true
	}
	return b, d.count(1)
}

// Peek returns the next byte of the command without consuming it.
func (d *Decoder) Peek() (byte, error) { return d.peek() }

// Next reports whether the command continues with s (ASCII, compared
// without regard to case), without consuming it: a two-byte look-ahead
// such as " (" tells an optional argument list from the next element.
func (d *Decoder) Next(s string) bool {
	if err := d.settle(); err != nil {
		return false
	}
	b, err := d.r.Peek(len(s))
	return err == nil && strings.EqualFold(string(b), s)
}

// Special consumes b if it is the next byte and reports whether it did.
func (d *Decoder) Special(b byte) bool {
	c, err := d.peek()
	if err != nil || c != b {
		return false
	}
	d.r.ReadByte()
	return d.count(1) == nil
}

// ExpectSpecial consumes b or fails.
func (d *Decoder) ExpectSpecial(b byte) error {
	c, err := d.readByte()
	if err != nil {
		return err
	}
	if c != b {
		return syntaxErrorf("expected %q, got %q", b, c)
	}
	return nil
}

// SP reads one space.
func (d *Decoder) SP() error { return d.ExpectSpecial(' ') }

// CRLF reads the end of the command. A bare LF is accepted too, as many
// servers do for hand-typed sessions.
func (d *Decoder) CRLF() error {
	c, err := d.readByte()
	if err != nil {
		return err
	}
	if c == '\r' {
		if c, err = d.readByte(); err != nil {
			return err
		}
	}
	if c != '\n' {
		return syntaxErrorf("expected end of line, got %q", c)
	}
	d.ended = true
	return nil
}

// readWhile reads a run of bytes accepted by ok (at least one).
func (d *Decoder) readWhile(what string, ok func(byte) bool) (string, error) {
	if err := d.settle(); err != nil {
		return "", err
	}
	var sb strings.Builder
	for {
		c, err := d.r.Peek(1)
		if err != nil {
			if errors.Is(err, io.EOF) && sb.Len() > 0 {
				break
			}
			return "", err
		}
		if !ok(c[0]) {
			break
		}
		d.r.ReadByte()
		if err := d.count(1); err != nil {
			return "", err
		}
		sb.WriteByte(c[0])
	}
	if sb.Len() == 0 {
		c, _ := d.r.Peek(1)
		return "", syntaxErrorf("expected %s, got %q", what, c)
	}
	return sb.String(), nil
}

// Atom reads an atom (RFC 9051 9: 1*ATOM-CHAR).
func (d *Decoder) Atom() (string, error) { return d.readWhile("atom", IsAtomChar) }

// AtomStop reads an atom that also ends at any byte of stops, for grammar
// such as fetch attributes where "BODY[" is followed by a section.
func (d *Decoder) AtomStop(stops string) (string, error) {
	return d.readWhile("atom", func(c byte) bool { return IsAtomChar(c) && strings.IndexByte(stops, c) < 0 })
}

// Tag reads a command tag: ASTRING-CHARs except "+".
func (d *Decoder) Tag() (string, error) {
	return d.readWhile("tag", func(c byte) bool { return IsAstringChar(c) && c != '+' })
}

// Text reads the rest of the line as free text (up to CRLF, not consumed).
func (d *Decoder) Text() (string, error) {
	return d.readWhile("text", func(c byte) bool { return c != '\r' && c != '\n' })
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (d *Decoder) number(max uint64) (uint64, error) {
	s, err := d.readWhile("number", isDigit)
	if err != nil {
		return 0, err
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		n = n*10 + uint64(s[i]-'0')
		if n > max {
			return 0, syntaxErrorf("number %s out of range", s)
		}
	}
	return n, nil
}

// Number reads a 32-bit unsigned number (RFC 9051 number).
func (d *Decoder) Number() (uint32, error) {
	n, err := d.number(1<<32 - 1)
	return uint32(n), err
}

// NzNumber reads a non-zero number.
func (d *Decoder) NzNumber() (uint32, error) {
	n, err := d.Number()
	if err == nil && n == 0 {
		return 0, syntaxErrorf("expected a non-zero number")
	}
	return n, err
}

// Number64 reads a 63-bit number (RFC 9051 number64, used by modseqs and
// literal sizes).
func (d *Decoder) Number64() (uint64, error) { return d.number(1<<63 - 1) }

// Quoted reads a quoted string. Escapes are \" and \\; UTF-8 is allowed
// (RFC 9051 9 QUOTED-CHAR), CR, LF and NUL are not.
func (d *Decoder) Quoted() (string, error) {
	if err := d.ExpectSpecial('"'); err != nil {
		return "", err
	}
	var sb strings.Builder
	for {
		c, err := d.readByte()
		if err != nil {
			return "", err
		}
		switch c {
		case '"':
			s := sb.String()
			if !utf8.ValidString(s) {
				return "", syntaxErrorf("quoted string is not valid UTF-8")
			}
			return s, nil
		case '\\':
			if c, err = d.readByte(); err != nil {
				return "", err
			}
			if c != '"' && c != '\\' {
				return "", syntaxErrorf("invalid escape \\%c in quoted string", c)
			}
		case '\r', '\n', 0:
			return "", syntaxErrorf("quoted string not terminated")
		}
		sb.WriteByte(c)
	}
}

// String reads a quoted string or a literal held in memory (RFC 9051
// string).
func (d *Decoder) String() (string, error) {
	c, err := d.peek()
	if err != nil {
		return "", err
	}
	switch c {
	case '"':
		return d.Quoted()
	case '{':
		return d.literalString()
	}
	return "", syntaxErrorf("expected string, got %q", c)
}

// Astring reads an atom (which may contain "]") or a string.
func (d *Decoder) Astring() (string, error) {
	c, err := d.peek()
	if err != nil {
		return "", err
	}
	if c == '"' || c == '{' {
		return d.String()
	}
	return d.readWhile("astring", IsAstringChar)
}

// Nstring reads a string or NIL; ok is false for NIL.
func (d *Decoder) Nstring() (s string, ok bool, err error) {
	c, err := d.peek()
	if err != nil {
		return "", false, err
	}
	if c == '"' || c == '{' {
		s, err := d.String()
		return s, err == nil, err
	}
	a, err := d.Atom()
	if err != nil {
		return "", false, err
	}
	if !strings.EqualFold(a, "NIL") {
		return "", false, syntaxErrorf("expected string or NIL, got %q", a)
	}
	return "", false, nil
}

// List reads a parenthesized list, calling elem once per element; elem
// reads the element itself, the decoder reads the separating spaces. An
// empty list "()" calls elem zero times. Lists nest up to Limits.MaxDepth.
func (d *Decoder) List(elem func() error) error {
	if err := d.ExpectSpecial('('); err != nil {
		return err
	}
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > d.limits.MaxDepth {
		return &Error{Code: CodeLimit, Text: "lists nested too deeply"}
	}
	if d.Special(')') {
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		if d.Special(')') {
			return nil
		}
		if err := d.SP(); err != nil {
			return err
		}
	}
}

// Flag reads a flag: "\" atom (system flag or extension) or a keyword atom.
// `\*` is accepted so that callers can reject it where it is not allowed.
func (d *Decoder) Flag() (string, error) {
	if d.Special('\\') {
		if d.Special('*') {
			return `\*`, nil
		}
		a, err := d.Atom()
		if err != nil {
			return "", err
		}
		return `\` + a, nil
	}
	return d.Atom()
}

// Mailbox reads a mailbox name (astring), spelling any case of INBOX as
// "INBOX" (RFC 9051 5.1). The name is returned as sent; converting a
// modified UTF-7 name of an IMAP4rev1 client is the caller's business
// (DecodeMUTF7).
func (d *Decoder) Mailbox() (string, error) {
	s, err := d.Astring()
	if err != nil {
		return "", err
	}
	if strings.EqualFold(s, "INBOX") {
		return "INBOX", nil
	}
	return s, nil
}

// Discard skips the rest of the current command after an error, including
// the bytes of any non-synchronizing literals it announces, so that the
// next command starts at its first byte. It stops after a line that
// announces a synchronizing literal: the client waits for a continuation
// that never comes, and takes the tagged response as the command's end.
// It fails (and the connection should end) when the rest is larger than
// the limits allow to skip.
func (d *Decoder) Discard() error {
	defer func() { d.ended = true }()
	if d.ended && d.lit == nil && d.skip == 0 {
		return nil
	}
	if err := d.settle(); err != nil {
		return err
	}
	if d.ended {
		return nil
	}
	budget := int64(d.limits.MaxLine) * 4
	var tail []byte // the current line's last bytes, to spot "{n}" / "{n+}"
	for {
		b, err := d.r.ReadByte()
		if err != nil {
			return err
		}
		if budget--; budget < 0 {
			return &Error{Code: CodeTooBig, Text: "command too long", Close: true}
		}
		if b != '\n' {
			if len(tail) < 32 {
				tail = append(tail, b)
			} else {
				copy(tail, tail[1:])
				tail[len(tail)-1] = b
			}
			continue
		}
		size, nonSync, ok := literalAtLineEnd(tail)
		if !ok {
			return nil
		}
		if !nonSync {
			return nil
		}
		if size > d.limits.MaxDiscard {
			return &Error{Code: CodeTooBig, Text: "literal too large to skip", Close: true}
		}
		if _, err := d.r.Discard(int(size)); err != nil {
			return err
		}
		tail = tail[:0]
	}
}

// literalAtLineEnd recognizes a line ending in a literal announcement.
func literalAtLineEnd(line []byte) (size int64, nonSync, ok bool) {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	n := len(line)
	if n < 3 || line[n-1] != '}' {
		return 0, false, false
	}
	i := n - 2
	if line[i] == '+' {
		nonSync = true
		i--
	}
	end := i + 1
	for i >= 0 && isDigit(line[i]) {
		i--
	}
	if i < 0 || line[i] != '{' || i+1 == end || end-(i+1) > 18 {
		return 0, false, false
	}
	for _, c := range line[i+1 : end] {
		size = size*10 + int64(c-'0')
	}
	return size, nonSync, true
}

// IsAtomChar reports whether c is an ATOM-CHAR (RFC 9051 9).
func IsAtomChar(c byte) bool {
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return c > 0x1f && c < 0x7f
}

// IsAstringChar reports whether c is an ASTRING-CHAR: an ATOM-CHAR or "]".
func IsAstringChar(c byte) bool { return IsAtomChar(c) || c == ']' }

// Line reads a whole line outside any command, up to and including its
// CRLF, and returns it without the line end: the client's answers to
// AUTHENTICATE challenges and IDLE's DONE. It may be empty.
func (d *Decoder) Line() (string, error) {
	d.Begin()
	var sb strings.Builder
	for {
		c, err := d.readByte()
		if err != nil {
			return "", err
		}
		if c == '\n' {
			return strings.TrimSuffix(sb.String(), "\r"), nil
		}
		sb.WriteByte(c)
	}
}
