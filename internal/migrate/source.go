package migrate

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The source side speaks IMAP through the small client in this file
// rather than go-imap's: go-imap v2's client has no QRESYNC (it cannot
// parse VANISHED), which incremental runs depend on, and a migration needs
// to stream one long UID FETCH while the store writes what already
// arrived. It implements only what a migration sends: CAPABILITY,
// STARTTLS, AUTHENTICATE PLAIN / LOGIN, ENABLE, LIST / LSUB, EXAMINE,
// UID FETCH, UID SEARCH and LOGOUT, one command at a time.

// token is one item of a response: an atom (also numbers, flags, NIL), a
// quoted string, a literal or a parenthesized list.
type token struct {
	kind  byte // 'a' atom, 's' quoted string, 'l' literal, '(' list
	text  string
	data  []byte // literal bytes
	items []token
}

func (t token) isNil() bool { return t.kind == 'a' && strings.EqualFold(t.text, "NIL") }

// str returns an atom's, quoted string's or literal's text.
func (t token) str() string {
	if t.kind == 'l' {
		return string(t.data)
	}
	return t.text
}

func (t token) number() (uint64, bool) {
	if t.kind != 'a' {
		return 0, false
	}
	n, err := strconv.ParseUint(t.text, 10, 64)
	return n, err == nil
}

// response is one untagged or tagged response.
type response struct {
	tag    string // "*" for untagged
	kind   string // upper-cased: OK, NO, BAD, BYE, PREAUTH, CAPABILITY, LIST, FETCH, ...
	number uint64 // for "* n EXISTS|EXPUNGE|FETCH"
	code   string // the response code of a status response, without brackets
	text   string // the text of a status response
	args   []token
}

// maxLiteral bounds one literal from the source (a message body); a
// larger one ends the migration with an error rather than exhausting
// memory.
const maxLiteral = 1 << 30

// countingConn counts the bytes crossing the connection.
type countingConn struct {
	net.Conn
	read, written *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

// client is one connection to the source server.
type client struct {
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	tag  int
	caps map[string]bool
	// BytesRead and BytesWritten count the wire, TLS included.
	bytesRead, bytesWritten atomic.Int64
	// fetches counts UID FETCH commands sent.
	fetches int
	// timeout bounds each wait for the server.
	timeout time.Duration
}

// SourceError is an error the migration cannot get past by retrying:
// wrong password, unreachable host, a server that is not IMAP4rev1.
type SourceError struct {
	Msg string
	Err error
}

func (e *SourceError) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *SourceError) Unwrap() error { return e.Err }

// dialSource connects, secures and logs in.
func dialSource(ctx context.Context, src *Source, password string, insecure bool) (*client, error) {
	addr := net.JoinHostPort(src.Host, strconv.Itoa(src.Port))
	d := net.Dialer{Timeout: 30 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &SourceError{Msg: "cannot reach the source at " + addr, Err: err}
	}
	c := &client{timeout: 5 * time.Minute}
	tlsConf := &tls.Config{ServerName: src.Host, InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12}
	var conn net.Conn = raw
	if src.TLS {
		tc := tls.Client(raw, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, &SourceError{Msg: "TLS with the source at " + addr + " failed (--insecure accepts a self-signed certificate)", Err: err}
		}
		conn = tc
	}
	c.setConn(conn)
	if err := c.greeting(); err != nil {
		c.close()
		return nil, err
	}
	if !src.TLS {
		if c.caps["STARTTLS"] {
			if _, err := c.run("STARTTLS", nil); err != nil {
				c.close()
				return nil, &SourceError{Msg: "STARTTLS refused by the source", Err: err}
			}
			tc := tls.Client(c.conn.(countingConn).Conn, tlsConf)
			if err := tc.HandshakeContext(ctx); err != nil {
				c.close()
				return nil, &SourceError{Msg: "STARTTLS with the source at " + addr + " failed (--insecure accepts a self-signed certificate)", Err: err}
			}
			c.setConn(tc)
			c.caps = nil
		} else if !insecure && !isLoopback(src.Host) {
			c.close()
			return nil, &SourceError{Msg: "the source at " + addr + " offers no STARTTLS: use imaps://, or --insecure to send the password in the clear"}
		}
	}
	if c.caps == nil {
		if err := c.capability(); err != nil {
			c.close()
			return nil, err
		}
	}
	if !c.caps["IMAP4REV1"] && !c.caps["IMAP4REV2"] {
		c.close()
		return nil, &SourceError{Msg: "the source at " + addr + " is not an IMAP4rev1 server (capabilities: " + c.capList() + ")"}
	}
	if err := c.login(src.User, password); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *client) setConn(conn net.Conn) {
	cc := countingConn{Conn: conn, read: &c.bytesRead, written: &c.bytesWritten}
	c.conn = cc
	c.br = bufio.NewReaderSize(cc, 64<<10)
	c.bw = bufio.NewWriterSize(cc, 16<<10)
}

func (c *client) close() error { return c.conn.Close() }

func (c *client) capList() string {
	var out []string
	for k := range c.caps {
		out = append(out, k)
	}
	return strings.Join(out, " ")
}

func (c *client) greeting() error {
	c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	r, err := c.readResponse()
	if err != nil {
		return &SourceError{Msg: "no IMAP greeting from the source", Err: err}
	}
	if r.tag != "*" || (r.kind != "OK" && r.kind != "PREAUTH") {
		return &SourceError{Msg: "the source refused the connection: " + r.kind + " " + r.text}
	}
	c.noteCode(r.code)
	return nil
}

// noteCode takes capabilities from a [CAPABILITY ...] response code.
func (c *client) noteCode(code string) {
	if f := strings.Fields(code); len(f) > 0 && strings.EqualFold(f[0], "CAPABILITY") {
		c.setCaps(f[1:])
	}
}

func (c *client) setCaps(caps []string) {
	c.caps = make(map[string]bool)
	for _, s := range caps {
		c.caps[strings.ToUpper(s)] = true
	}
}

func (c *client) capability() error {
	_, err := c.run("CAPABILITY", nil)
	if err != nil {
		return &SourceError{Msg: "CAPABILITY failed", Err: err}
	}
	if c.caps == nil {
		c.caps = map[string]bool{}
	}
	return nil
}

func (c *client) login(user, password string) error {
	var err error
	switch {
	case c.caps["AUTH=PLAIN"]:
		ir := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
		if c.caps["SASL-IR"] {
			_, err = c.run("AUTHENTICATE PLAIN "+ir, nil)
		} else {
			_, err = c.runContinued("AUTHENTICATE PLAIN", ir)
		}
	case c.caps["LOGINDISABLED"]:
		return &SourceError{Msg: "the source allows no login on this connection (LOGINDISABLED and no AUTH=PLAIN)"}
	default:
		u, ok1 := quote(user)
		p, ok2 := quote(password)
		if !ok1 || !ok2 {
			return &SourceError{Msg: "the user name or password cannot be sent with LOGIN (the source offers no AUTH=PLAIN)"}
		}
		_, err = c.run("LOGIN "+u+" "+p, nil)
	}
	var st *statusError
	if errors.As(err, &st) {
		return &SourceError{Msg: "login to the source failed (wrong user name or password?)", Err: err}
	}
	if err != nil {
		return &SourceError{Msg: "login to the source failed", Err: err}
	}
	// Capabilities may change after login; ask again unless the tagged OK
	// carried them.
	if c.caps == nil {
		return c.capability()
	}
	return nil
}

// quote returns s as an IMAP quoted string, or false when it cannot be
// one (CR, LF, NUL or 8-bit characters need a literal).
func quote(s string) (string, bool) {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch == 0 || ch == '\r' || ch == '\n' || ch >= 0x80 {
			return "", false
		}
		if ch == '"' || ch == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(ch)
	}
	b.WriteByte('"')
	return b.String(), true
}

// statusError is a tagged NO or BAD.
type statusError struct {
	kind, code, text string
}

func (e *statusError) Error() string {
	s := e.kind
	if e.code != "" {
		s += " [" + e.code + "]"
	}
	return s + " " + e.text
}

// run sends one command and reads responses until its tagged one, handing
// each untagged response to fn (when not nil). A tagged NO or BAD is a
// *statusError.
func (c *client) run(cmd string, fn func(*response) error) (*response, error) {
	tag := c.send(cmd)
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	return c.wait(tag, fn)
}

// runContinued sends a command, waits for the continuation request and
// sends line.
func (c *client) runContinued(cmd, line string) (*response, error) {
	tag := c.send(cmd)
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	c.conn.SetReadDeadline(time.Now().Add(c.timeout))
	b, err := c.br.Peek(1)
	if err != nil {
		return nil, err
	}
	if b[0] == '+' {
		if _, err := c.br.ReadString('\n'); err != nil {
			return nil, err
		}
		c.bw.WriteString(line + "\r\n")
		if err := c.bw.Flush(); err != nil {
			return nil, err
		}
	}
	return c.wait(tag, nil)
}

func (c *client) send(cmd string) string {
	c.tag++
	tag := "M" + strconv.Itoa(c.tag)
	c.bw.WriteString(tag + " " + cmd + "\r\n")
	if strings.HasPrefix(cmd, "UID FETCH") {
		c.fetches++
	}
	return tag
}

func (c *client) wait(tag string, fn func(*response) error) (*response, error) {
	for {
		c.conn.SetReadDeadline(time.Now().Add(c.timeout))
		r, err := c.readResponse()
		if err != nil {
			return nil, err
		}
		switch {
		case r.tag == tag:
			c.noteCode(r.code)
			if r.kind != "OK" {
				return r, &statusError{kind: r.kind, code: r.code, text: r.text}
			}
			return r, nil
		case r.tag == "*" && r.kind == "BYE":
			return nil, &SourceError{Msg: "the source closed the connection: " + r.text}
		case r.tag == "*" && r.kind == "CAPABILITY":
			var caps []string
			for _, a := range r.args {
				caps = append(caps, a.str())
			}
			c.setCaps(caps)
		case r.tag == "*" && fn != nil:
			// An error of fn ends the migration: the connection is left
			// mid-response and must be closed.
			if err := fn(r); err != nil {
				return nil, err
			}
		case r.tag == "*":
			c.noteCode(r.code)
		}
	}
}

// readResponse reads one complete response, literals included.
func (c *client) readResponse() (*response, error) {
	tag, err := c.readAtom()
	if err != nil {
		return nil, err
	}
	r := &response{tag: tag}
	if tag == "+" {
		_, err := c.br.ReadString('\n')
		return r, err
	}
	if err := c.expectSP(); err != nil {
		return nil, err
	}
	kind, err := c.readAtom()
	if err != nil {
		return nil, err
	}
	if n, err := strconv.ParseUint(kind, 10, 64); err == nil {
		r.number = n
		if err := c.expectSP(); err != nil {
			return nil, err
		}
		if kind, err = c.readAtom(); err != nil {
			return nil, err
		}
	}
	r.kind = strings.ToUpper(kind)
	switch r.kind {
	case "OK", "NO", "BAD", "BYE", "PREAUTH":
		line, err := c.br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(strings.TrimPrefix(line, " "), "\r\n")
		if strings.HasPrefix(line, "[") {
			if i := strings.IndexByte(line, ']'); i > 0 {
				r.code, line = line[1:i], strings.TrimPrefix(line[i+1:], " ")
			}
		}
		r.text = line
		return r, nil
	}
	for {
		b, err := c.br.ReadByte()
		if err != nil {
			return nil, err
		}
		switch b {
		case '\r':
			if b, err = c.br.ReadByte(); err != nil || b != '\n' {
				return nil, fmt.Errorf("source sent a malformed line")
			}
			return r, nil
		case '\n':
			return r, nil
		case ' ':
			continue
		}
		c.br.UnreadByte()
		t, err := c.readToken(0)
		if err != nil {
			return nil, err
		}
		r.args = append(r.args, t)
	}
}

func (c *client) expectSP() error {
	b, err := c.br.ReadByte()
	if err != nil {
		return err
	}
	if b != ' ' {
		return fmt.Errorf("source sent a malformed response (expected a space, got %q)", b)
	}
	return nil
}

// readAtom reads up to a space or the end of the line.
func (c *client) readAtom() (string, error) {
	var b strings.Builder
	for {
		ch, err := c.br.ReadByte()
		if err != nil {
			return "", err
		}
		if ch == ' ' || ch == '\r' || ch == '\n' {
			c.br.UnreadByte()
			if b.Len() == 0 {
				return "", fmt.Errorf("source sent an empty word")
			}
			return b.String(), nil
		}
		b.WriteByte(ch)
	}
}

// readToken reads one token at depth (lists nest at most 64 deep).
func (c *client) readToken(depth int) (token, error) {
	if depth > 64 {
		return token{}, fmt.Errorf("source sent lists nested too deep")
	}
	ch, err := c.br.ReadByte()
	if err != nil {
		return token{}, err
	}
	switch ch {
	case '(':
		t := token{kind: '('}
		for {
			ch, err := c.br.ReadByte()
			if err != nil {
				return token{}, err
			}
			switch ch {
			case ')':
				return t, nil
			case ' ':
				continue
			case '\r', '\n':
				return token{}, fmt.Errorf("source sent an unterminated list")
			}
			c.br.UnreadByte()
			item, err := c.readToken(depth + 1)
			if err != nil {
				return token{}, err
			}
			t.items = append(t.items, item)
		}
	case '"':
		var b strings.Builder
		for {
			ch, err := c.br.ReadByte()
			if err != nil {
				return token{}, err
			}
			switch ch {
			case '"':
				return token{kind: 's', text: b.String()}, nil
			case '\\':
				if ch, err = c.br.ReadByte(); err != nil {
					return token{}, err
				}
			case '\r', '\n':
				return token{}, fmt.Errorf("source sent an unterminated quoted string")
			}
			b.WriteByte(ch)
		}
	case '{', '~':
		if ch == '~' { // literal8 (RFC 3516)
			if ch, err = c.br.ReadByte(); err != nil || ch != '{' {
				return token{}, fmt.Errorf("source sent a malformed literal")
			}
		}
		spec, err := c.br.ReadString('}')
		if err != nil {
			return token{}, err
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSuffix(spec, "}"), "+"), 10, 64)
		if err != nil || n < 0 || n > maxLiteral {
			return token{}, fmt.Errorf("source sent a literal of bad size %q", spec)
		}
		if line, err := c.br.ReadString('\n'); err != nil || strings.TrimRight(line, "\r\n") != "" {
			return token{}, fmt.Errorf("source sent a malformed literal")
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(c.br, data); err != nil {
			return token{}, err
		}
		return token{kind: 'l', data: data}, nil
	}
	// An atom, which may hold a [section] with spaces (BODY[HEADER.FIELDS (A B)]).
	c.br.UnreadByte()
	var b strings.Builder
	brackets := 0
	for {
		ch, err := c.br.ReadByte()
		if err != nil {
			return token{}, err
		}
		switch {
		case ch == '[':
			brackets++
		case ch == ']' && brackets > 0:
			brackets--
		case brackets == 0 && (ch == ' ' || ch == '(' || ch == ')' || ch == '\r' || ch == '\n'):
			c.br.UnreadByte()
			return token{kind: 'a', text: b.String()}, nil
		}
		b.WriteByte(ch)
	}
}

func (c *client) logout() {
	c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	c.run("LOGOUT", nil)
	c.close()
}
