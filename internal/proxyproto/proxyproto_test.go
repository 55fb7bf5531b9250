package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// header builds a version 2 header for client (the PROXY command), or
// LOCAL when client is invalid, with tlv bytes after the addresses.
func header(client netip.AddrPort, tlv []byte) []byte {
	var b bytes.Buffer
	b.Write(signature)
	if !client.IsValid() {
		b.Write([]byte{0x20, 0x00, 0, 0})
		return b.Bytes()
	}
	var addrs []byte
	dst := netip.MustParseAddrPort("[2001:db8::1]:993")
	if client.Addr().Is4() {
		b.Write([]byte{0x21, 0x11})
		c, d := client.Addr().As4(), netip.MustParseAddr("192.0.2.1").As4()
		addrs = append(append(addrs, c[:]...), d[:]...)
	} else {
		b.Write([]byte{0x21, 0x21})
		c, d := client.Addr().As16(), dst.Addr().As16()
		addrs = append(append(addrs, c[:]...), d[:]...)
	}
	addrs = binary.BigEndian.AppendUint16(addrs, client.Port())
	addrs = binary.BigEndian.AppendUint16(addrs, 993)
	addrs = append(addrs, tlv...)
	b.Write(binary.BigEndian.AppendUint16(nil, uint16(len(addrs))))
	b.Write(addrs)
	return b.Bytes()
}

func TestReadHeader(t *testing.T) {
	for _, c := range []struct {
		name   string
		in     []byte
		want   string // "" for ok=false
		errStr string
	}{
		{"ipv4", header(netip.MustParseAddrPort("198.51.100.7:40000"), nil), "198.51.100.7:40000", ""},
		{"ipv6 with TLVs", header(netip.MustParseAddrPort("[2001:db8:5::9]:1234"), []byte{0x01, 0, 2, 'h', '2'}), "[2001:db8:5::9]:1234", ""},
		{"local", header(netip.AddrPort{}, nil), "", ""},
		{"version 1 text", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), "", "no PROXY v2 header"},
		{"imap command", []byte("a LOGIN joe secret\r\n"), "", "no PROXY v2 header"},
		{"truncated", header(netip.MustParseAddrPort("198.51.100.7:1"), nil)[:20], "", "reading header"},
	} {
		got, ok, err := ReadHeader(bytes.NewReader(c.in))
		switch {
		case c.errStr != "":
			if err == nil || !strings.Contains(err.Error(), c.errStr) {
				t.Errorf("%s: %v, want error %q", c.name, err, c.errStr)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want == "" && ok, c.want != "" && (!ok || got.String() != c.want):
			t.Errorf("%s: %v %v, want %q", c.name, got, ok, c.want)
		}
	}
	long := header(netip.MustParseAddrPort("198.51.100.7:1"), make([]byte, maxHeader))
	if _, _, err := ReadHeader(bytes.NewReader(long)); err == nil {
		t.Error("over-long header accepted")
	}
}

// serveOne accepts one connection from l and reports its RemoteAddr, the
// first line it reads, and the read error if any.
func serveOne(t *testing.T, l net.Listener) <-chan [3]string {
	out := make(chan [3]string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			out <- [3]string{"", "", err.Error()}
			return
		}
		defer c.Close()
		remote := c.RemoteAddr().String()
		line, err := bufio.NewReader(c).ReadString('\n')
		e := ""
		if err != nil && !errors.Is(err, io.EOF) {
			e = err.Error()
		}
		out <- [3]string{remote, line, e}
	}()
	return out
}

// TestListener: a trusted peer's header sets RemoteAddr and is not part of
// the data; a trusted peer without a header is refused; an untrusted
// peer's header is data, never an address.
func TestListener(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	l := &Listener{Listener: raw, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Timeout: 5 * time.Second}
	send := func(b []byte) {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write(b)
		time.AfterFunc(time.Second, func() { c.Close() })
	}
	got := serveOne(t, l)
	send(append(header(netip.MustParseAddrPort("203.0.113.5:5555"), nil), "a NOOP\r\n"...))
	if r := <-got; r[0] != "203.0.113.5:5555" || r[1] != "a NOOP\r\n" || r[2] != "" {
		t.Errorf("trusted with header: %q", r)
	}
	got = serveOne(t, l)
	send([]byte("a NOOP with no header at all\r\n"))
	if r := <-got; r[2] == "" {
		t.Errorf("trusted without header served: %q", r)
	}
	l.Trusted = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	got = serveOne(t, l)
	h := header(netip.MustParseAddrPort("203.0.113.5:5555"), nil)
	send(append(h, "\n"...))
	if r := <-got; !strings.HasPrefix(r[0], "127.0.0.1:") || r[1] == "" || !strings.HasPrefix(string(h), r[1]) {
		t.Errorf("untrusted peer's header taken as an address: %q", r)
	}
}
