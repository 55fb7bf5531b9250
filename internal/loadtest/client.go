package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Client is a minimal IMAP client for measuring: one command at a time,
// responses read into one reused buffer, every response byte counted.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	tag  int
	resp []byte // the current response, literals inlined; reused

	// Caps holds the capabilities the server advertised, upper-cased.
	Caps map[string]bool
	// BytesRead counts every byte read from the server since Dial.
	BytesRead int64
	// Timeout bounds each command, from its first byte written to its
	// tagged completion read.
	Timeout time.Duration
}

// Reply is the tagged completion of a command.
type Reply struct {
	Status string // OK, NO or BAD
	Text   string // the rest of the tagged line
	Bytes  int64  // response bytes received for the command, tagged line included
}

// StatusError is returned when a command completes with NO or BAD.
type StatusError struct {
	Command string
	Reply   Reply
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("loadtest: %s: %s %s", e.Command, e.Reply.Status, e.Reply.Text)
}

// ErrNotLoopback is returned by Dial and CheckLoopback for an address that is
// not on this machine.
var ErrNotLoopback = errors.New("loadtest: refusing a non-loopback address (only 127.0.0.0/8, ::1 and localhost may be measured)")

// CheckLoopback resolves addr ("host:port") and returns the address to dial,
// or ErrNotLoopback unless every address the host names is a loopback one.
func CheckLoopback(ctx context.Context, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("loadtest: address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return "", fmt.Errorf("%w: %s", ErrNotLoopback, addr)
		}
		return net.JoinHostPort(ip.String(), port), nil
	}
	if host != "localhost" {
		return "", fmt.Errorf("%w: %s", ErrNotLoopback, addr)
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return "", fmt.Errorf("loadtest: resolve %s: %w", host, err)
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("%w: %s resolves to nothing", ErrNotLoopback, host)
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return "", fmt.Errorf("%w: %s resolves to %s", ErrNotLoopback, host, ip.IP)
		}
	}
	return net.JoinHostPort(ips[0].IP.String(), port), nil
}

// Dial connects to a loopback IMAP server and reads its greeting.
func Dial(ctx context.Context, addr string) (*Client, error) {
	target, err := CheckLoopback(ctx, addr)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return nil, fmt.Errorf("loadtest: dial %s: %w", target, err)
	}
	c := &Client{
		conn:    conn,
		r:       bufio.NewReaderSize(conn, 256<<10),
		w:       bufio.NewWriterSize(conn, 256<<10),
		Caps:    map[string]bool{},
		Timeout: 5 * time.Minute,
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	greeting, err := c.readResponse()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("loadtest: greeting: %w", err)
	}
	if !bytes.HasPrefix(greeting, []byte("* OK")) && !bytes.HasPrefix(greeting, []byte("* PREAUTH")) {
		conn.Close()
		return nil, fmt.Errorf("loadtest: unexpected greeting %q", trimCRLF(greeting))
	}
	c.noteCaps(greeting)
	return c, nil
}

// Login authenticates with LOGIN and refreshes the capability list, which
// changes after authentication (RFC 9051 6.2.3).
func (c *Client) Login(user, pass string) error {
	if _, err := c.Exec("LOGIN "+quote(user)+" "+quote(pass), nil); err != nil {
		return err
	}
	clear(c.Caps)
	_, err := c.Exec("CAPABILITY", nil)
	return err
}

// Close logs out (best effort, bounded) and closes the connection.
func (c *Client) Close() error {
	c.conn.SetDeadline(time.Now().Add(2 * time.Second))
	c.tag++
	fmt.Fprintf(c.w, "T%d LOGOUT\r\n", c.tag)
	c.w.Flush()
	return c.conn.Close()
}

// Has reports whether the server advertised capability name.
func (c *Client) Has(name string) bool { return c.Caps[strings.ToUpper(name)] }

// Exec sends one command (without tag and CRLF) and reads responses up to
// its tagged completion. Each untagged response, literals inlined and CRLF
// included, is passed to onUntagged (which may be nil); the slice is valid
// only during the call. A NO or BAD completion is returned as *StatusError.
func (c *Client) Exec(cmd string, onUntagged func(resp []byte)) (Reply, error) {
	tag := c.nextTag()
	c.conn.SetDeadline(time.Now().Add(c.Timeout))
	c.w.WriteString(tag)
	c.w.WriteByte(' ')
	c.w.WriteString(cmd)
	c.w.WriteString("\r\n")
	if err := c.w.Flush(); err != nil {
		return Reply{}, fmt.Errorf("loadtest: write %s: %w", verb(cmd), err)
	}
	return c.await(tag, verb(cmd), onUntagged)
}

// Append appends messages to mailbox with one APPEND command: one message
// is a plain APPEND, more are a MULTIAPPEND (RFC 3502). Literals are sent
// non-synchronizing when the server has LITERAL+ (RFC 7888), otherwise each
// waits for the server's continuation request.
func (c *Client) Append(mailbox string, msgs [][]byte, onUntagged func([]byte)) (Reply, error) {
	if len(msgs) > 1 && !c.Has("MULTIAPPEND") {
		return Reply{}, errors.New("loadtest: server lacks MULTIAPPEND")
	}
	tag := c.nextTag()
	c.conn.SetDeadline(time.Now().Add(c.Timeout))
	plus := c.Has("LITERAL+")
	c.w.WriteString(tag)
	c.w.WriteString(" APPEND ")
	c.w.WriteString(quote(mailbox))
	var bytesRead int64
	for _, m := range msgs {
		c.w.WriteString(" {")
		c.w.WriteString(strconv.Itoa(len(m)))
		if plus {
			c.w.WriteString("+}\r\n")
		} else {
			c.w.WriteString("}\r\n")
			if err := c.w.Flush(); err != nil {
				return Reply{}, fmt.Errorf("loadtest: write APPEND: %w", err)
			}
			// Wait for "+ ..." (RFC 9051 7.5); a tagged reply here is a refusal.
			resp, err := c.readResponse()
			if err != nil {
				return Reply{}, err
			}
			bytesRead += int64(len(resp))
			if resp[0] != '+' {
				if st, text, ok := parseTagged(resp, tag); ok {
					return c.finish("APPEND", Reply{st, text, bytesRead})
				}
				return Reply{}, fmt.Errorf("loadtest: APPEND: expected continuation, got %q", trimCRLF(resp))
			}
		}
		c.w.Write(m)
	}
	c.w.WriteString("\r\n")
	if err := c.w.Flush(); err != nil {
		return Reply{}, fmt.Errorf("loadtest: write APPEND: %w", err)
	}
	rep, err := c.await(tag, "APPEND", onUntagged)
	rep.Bytes += bytesRead
	return rep, err
}

func (c *Client) nextTag() string {
	c.tag++
	return "T" + strconv.Itoa(c.tag)
}

func (c *Client) await(tag, name string, onUntagged func([]byte)) (Reply, error) {
	var n int64
	for {
		resp, err := c.readResponse()
		if err != nil {
			return Reply{}, fmt.Errorf("loadtest: %s: %w", name, err)
		}
		n += int64(len(resp))
		if st, text, ok := parseTagged(resp, tag); ok {
			return c.finish(name, Reply{st, text, n})
		}
		if resp[0] == '*' {
			c.noteCaps(resp)
			if onUntagged != nil {
				onUntagged(resp)
			}
			continue
		}
		if resp[0] == '+' {
			return Reply{}, fmt.Errorf("loadtest: %s: unexpected continuation request %q", name, trimCRLF(resp))
		}
		return Reply{}, fmt.Errorf("loadtest: %s: unexpected response %q", name, trimCRLF(resp))
	}
}

func (c *Client) finish(name string, rep Reply) (Reply, error) {
	c.noteCaps([]byte("* " + rep.Status + " " + rep.Text))
	if rep.Status != "OK" {
		return rep, &StatusError{name, rep}
	}
	return rep, nil
}

// readResponse reads one whole response — a line plus every literal it
// announces and the line continuations after them — into c.resp.
func (c *Client) readResponse() ([]byte, error) {
	c.resp = c.resp[:0]
	for {
		start := len(c.resp)
		for {
			chunk, err := c.r.ReadSlice('\n')
			c.resp = append(c.resp, chunk...)
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil {
				if err == io.EOF && len(c.resp) == 0 {
					return nil, io.ErrUnexpectedEOF
				}
				return nil, err
			}
			break
		}
		c.BytesRead += int64(len(c.resp) - start)
		size, ok := literalSize(c.resp[start:])
		if !ok {
			return c.resp, nil
		}
		if size > 1<<30 {
			return nil, fmt.Errorf("literal of %d bytes is beyond any message this tool sends", size)
		}
		off := len(c.resp)
		c.resp = append(c.resp, make([]byte, size)...)
		if _, err := io.ReadFull(c.r, c.resp[off:]); err != nil {
			return nil, err
		}
		c.BytesRead += size
	}
}

func (c *Client) noteCaps(resp []byte) {
	for _, cp := range parseCapabilities(resp) {
		c.Caps[cp] = true
	}
}

func verb(cmd string) string {
	if i := strings.IndexByte(cmd, ' '); i > 0 {
		v := cmd[:i]
		if strings.EqualFold(v, "UID") {
			if j := strings.IndexByte(cmd[i+1:], ' '); j > 0 {
				return cmd[:i+1+j]
			}
		}
		return v
	}
	return cmd
}

// quote returns s as an IMAP quoted string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}
