package server

import (
	"bufio"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/proxyproto"
)

// proxyHeader is a PROXY protocol v2 header for a TCP client.
func proxyHeader(client netip.AddrPort) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c")
	c := client.Addr().As4()
	b = append(b, c[:]...)
	b = append(b, 127, 0, 0, 1)
	b = binary.BigEndian.AppendUint16(b, client.Port())
	return binary.BigEndian.AppendUint16(b, 143)
}

// serveBehindProxy adds to env a listener that trusts 127.0.0.1 as a
// PROXY v2 front proxy, and returns a dialer for clients at given
// addresses.
func serveBehindProxy(t *testing.T, env *testEnv) func(client string) *client {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go env.srv.Serve(&proxyproto.Listener{Listener: raw, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	return func(addr string) *client {
		t.Helper()
		conn, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.Write(proxyHeader(netip.MustParseAddrPort(addr)))
		c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
		c.expect(`^\* OK \[CAPABILITY .*\] Tidemark ready$`)
		return c
	}
}

// TestBehindProxy: with a PROXY v2 front proxy on this host, each client is
// seen with its own address: a remote one is not trusted like loopback
// (no password without TLS), and failed logins count per real address
// instead of all on the proxy's.
func TestBehindProxy(t *testing.T) {
	env := newTestEnv(t, nil)
	dial := serveBehindProxy(t, env)
	c := dial("192.0.2.9:40000")
	c.send("a CAPABILITY")
	c.expect(`^\* CAPABILITY .*LOGINDISABLED`, `^a OK`)
	c.send("b LOGIN joe secret-pass")
	c.expect(`^b NO \[PRIVACYREQUIRED\] `)
	c = dial("127.0.0.5:40000")
	c.send("a LOGIN joe secret-pass")
	c.expect(`^a OK `)
}

func TestBehindProxyThrottlesPerClient(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.AllowPlaintextAuth = true })
	dial := serveBehindProxy(t, env)
	bad := dial("192.0.2.9:1000")
	for range 10 {
		bad.send("x LOGIN joe wrong")
		bad.expect(`^x NO \[AUTHENTICATIONFAILED\] `)
	}
	bad.send("y LOGIN joe secret-pass")
	bad.expect(`^y NO \[UNAVAILABLE\] `)
	good := dial("192.0.2.10:1000")
	good.send("z LOGIN joe secret-pass")
	good.expect(`^z OK `)
}

// TestNoLoopbackPlaintext: the loopback exemption is a setting; without
// it a loopback client is held to TLS like any other.
func TestNoLoopbackPlaintext(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.NoLoopbackPlaintext = true })
	c := env.dial()
	c.send("a CAPABILITY")
	c.expect(`^\* CAPABILITY .*LOGINDISABLED`, `^a OK`)
	c.send("b LOGIN joe secret-pass")
	c.expect(`^b NO \[PRIVACYREQUIRED\] `)
}
