package lmtp

import (
	"bufio"
	"bytes"
	"net"
	"strconv"
)

// Some MTAs hand a local recipient to LMTP as a bare user name,
// "RCPT TO:<alice>", which RFC 5321's grammar (and so the SMTP library's
// parser) rejects with 501. Such a name is accepted as that local user: a
// connection's command lines are read through bareRcptConn, which gives a
// bare RCPT path the domain bareDomain, and parseAddress reads that domain
// as "no domain". Message data (DATA up to the lone ".", BDAT chunks) is
// passed through untouched.
const bareDomain = "bare-local-part.invalid"

// bareRcptListener wraps accepted connections in bareRcptConn.
type bareRcptListener struct{ net.Listener }

func (l bareRcptListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &bareRcptConn{Conn: c, r: newReader(c)}, nil
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReaderSize(c, 4096) }

type bareRcptConn struct {
	net.Conn
	r       *bufio.Reader
	pending []byte // rewritten bytes not yet returned by Read
	inData  bool   // between DATA and the lone "."
	chunk   int64  // BDAT bytes still to pass through
}

func (c *bareRcptConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	if c.chunk > 0 {
		if int64(len(p)) > c.chunk {
			p = p[:c.chunk]
		}
		n, err := c.r.Read(p)
		c.chunk -= int64(n)
		return n, err
	}
	line, err := c.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// A line longer than any command: not one to rewrite.
		n := copy(p, line)
		c.pending = append(c.pending[:0], line[n:]...)
		return n, nil
	}
	if len(line) == 0 {
		return 0, err
	}
	out := c.track(line)
	n := copy(p, out)
	c.pending = append(c.pending[:0], out[n:]...)
	return n, nil
}

// track follows the command/data state over one whole line and returns
// the line to hand on.
func (c *bareRcptConn) track(line []byte) []byte {
	trimmed := bytes.TrimRight(line, "\r\n")
	if c.inData {
		if string(trimmed) == "." {
			c.inData = false
		}
		return line
	}
	word, rest, _ := bytes.Cut(trimmed, []byte(" "))
	switch {
	case bytes.EqualFold(trimmed, []byte("DATA")):
		c.inData = true
	case bytes.EqualFold(word, []byte("BDAT")):
		size, _, _ := bytes.Cut(bytes.TrimSpace(rest), []byte(" "))
		if n, err := strconv.ParseInt(string(size), 10, 64); err == nil && n > 0 {
			c.chunk = n
		}
	case len(trimmed) > 8 && bytes.EqualFold(trimmed[:8], []byte("RCPT TO:")):
		return rewriteBareRcpt(line)
	}
	return line
}

// rewriteBareRcpt adds bareDomain to "RCPT TO:<name>" when name has no '@'.
func rewriteBareRcpt(line []byte) []byte {
	open := bytes.IndexByte(line, '<')
	end := bytes.IndexByte(line, '>')
	if open < 0 || end < open+2 {
		return line
	}
	path := line[open+1 : end]
	if bytes.IndexByte(path, '@') >= 0 || bytes.IndexByte(path, '"') >= 0 {
		return line
	}
	out := make([]byte, 0, len(line)+len(bareDomain)+1)
	out = append(out, line[:end]...)
	out = append(out, '@')
	out = append(out, bareDomain...)
	return append(out, line[end:]...)
}
