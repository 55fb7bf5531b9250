// Package proxyproto reads the PROXY protocol version 2 header that a
// front proxy (HAProxy, nginx stream, a cloud load balancer) sends before
// the client's bytes, so that the server sees the client's address, not
// the proxy's.
//
// # Model
//
// Only connections from Listener.Trusted prefixes are read for a header,
// and they must send one: a trusted peer without a header is refused, so
// that a direct connection from the proxy's host cannot pass for a client.
// Other peers are served as they are, and their bytes are never read as a
// header, so nobody can claim another address by sending one.
//
// The header is read lazily, by the connection's own goroutine (on the
// first Read or RemoteAddr), with a deadline, never in the accept loop. The
// PROXY command gives the client's address; LOCAL (the proxy's own health
// checks) keeps the connection's. Version 1 (text) headers are not
// accepted.
//
// The format is that of the PROXY protocol specification, section 2.2:
// a 12-byte signature, version and command, family and transport, a
// 16-bit length, the addresses, then TLVs (skipped).
package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// signature starts every version 2 header.
var signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

// maxHeader bounds the bytes after the fixed part: addresses and TLVs.
const maxHeader = 2048

// ErrNoHeader is returned for a trusted peer that did not start with a
// version 2 header.
var ErrNoHeader = errors.New("proxyproto: no PROXY v2 header from a trusted proxy")

// ReadHeader reads one version 2 header from r. It returns the client's
// address, or ok false for the LOCAL command or an address family it does
// not carry (UNSPEC, AF_UNIX): then the connection's own address stands.
func ReadHeader(r io.Reader) (client netip.AddrPort, ok bool, err error) {
	var fixed [16]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return netip.AddrPort{}, false, fmt.Errorf("proxyproto: reading header: %w", err)
	}
	if !bytes.Equal(fixed[:12], signature) {
		return netip.AddrPort{}, false, ErrNoHeader
	}
	if fixed[12]>>4 != 2 {
		return netip.AddrPort{}, false, fmt.Errorf("proxyproto: version %d", fixed[12]>>4)
	}
	cmd := fixed[12] & 0xf
	if cmd > 1 {
		return netip.AddrPort{}, false, fmt.Errorf("proxyproto: command %d", cmd)
	}
	n := int(binary.BigEndian.Uint16(fixed[14:16]))
	if n > maxHeader {
		return netip.AddrPort{}, false, fmt.Errorf("proxyproto: header of %d bytes", n)
	}
	rest := make([]byte, n)
	if _, err := io.ReadFull(r, rest); err != nil {
		return netip.AddrPort{}, false, fmt.Errorf("proxyproto: reading header: %w", err)
	}
	if cmd == 0 { // LOCAL
		return netip.AddrPort{}, false, nil
	}
	switch fixed[13] {
	case 0x11: // TCP over IPv4: src, dst, src port, dst port
		if n < 12 {
			return netip.AddrPort{}, false, errors.New("proxyproto: short IPv4 addresses")
		}
		a := netip.AddrFrom4([4]byte(rest[0:4]))
		return netip.AddrPortFrom(a, binary.BigEndian.Uint16(rest[8:10])), true, nil
	case 0x21: // TCP over IPv6
		if n < 36 {
			return netip.AddrPort{}, false, errors.New("proxyproto: short IPv6 addresses")
		}
		a := netip.AddrFrom16([16]byte(rest[0:16])).Unmap()
		return netip.AddrPortFrom(a, binary.BigEndian.Uint16(rest[32:34])), true, nil
	}
	return netip.AddrPort{}, false, nil
}

// Listener wraps a listener: connections from Trusted peers must start
// with a header, and report the client's address as RemoteAddr.
type Listener struct {
	net.Listener
	Trusted []netip.Prefix
	// Timeout bounds the wait for the header (default 10 s).
	Timeout time.Duration
}

// Accept returns the next connection, wrapped if its peer is trusted.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil || !l.trusted(ap.Addr().Unmap()) {
		return c, nil
	}
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Conn{Conn: c, timeout: timeout}, nil
}

func (l *Listener) trusted(a netip.Addr) bool {
	for _, p := range l.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Conn is a connection from a trusted proxy; its header is read on first
// use.
type Conn struct {
	net.Conn
	timeout time.Duration

	once   sync.Once
	remote net.Addr // the client, or the connection's own peer for LOCAL
	err    error
}

func (c *Conn) resolve() {
	c.once.Do(func() {
		c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
		client, ok, err := ReadHeader(c.Conn)
		c.Conn.SetReadDeadline(time.Time{})
		c.remote = c.Conn.RemoteAddr()
		if err != nil {
			c.err = err
			return
		}
		if ok {
			c.remote = net.TCPAddrFromAddrPort(client)
		}
	})
}

// Read reads the client's bytes, after the header.
func (c *Conn) Read(p []byte) (int, error) {
	c.resolve()
	if c.err != nil {
		return 0, c.err
	}
	return c.Conn.Read(p)
}

// RemoteAddr is the client's address as the proxy reported it.
func (c *Conn) RemoteAddr() net.Addr {
	c.resolve()
	return c.remote
}

// Err is the error reading the header, if any (the connection then yields
// it from every Read).
func (c *Conn) Err() error {
	c.resolve()
	return c.err
}
