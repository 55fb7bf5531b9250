package server

import (
	"bufio"
	"crypto/tls"
	"net"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/tlscert"
)

func testTLSConfig(t *testing.T) *tls.Config {
	cfg, err := tlscert.Load(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestStartTLS(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.TLS = testTLSConfig(t) })
	c := env.dial()
	c.send("c CAPABILITY")
	if caps := c.expect(`^\* CAPABILITY `, `^c OK`)[0]; !contains(caps, "STARTTLS") {
		t.Fatalf("no STARTTLS in %q", caps)
	}
	c.send("t STARTTLS")
	c.expect(`^t OK Begin TLS negotiation now$`)
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	c.send("c2 CAPABILITY")
	if caps := c.expect(`^\* CAPABILITY `, `^c2 OK`)[0]; contains(caps, "STARTTLS") {
		t.Fatalf("STARTTLS offered twice: %q", caps)
	}
	c.send("t2 STARTTLS")
	c.expect(`^t2 BAD STARTTLS is not available$`)
	c.login()
}

func TestStartTLSRefusesPipelinedData(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.TLS = testTLSConfig(t) })
	c := env.dial()
	c.send("t STARTTLS\r\nx LOGIN joe secret-pass")
	c.expect(`^t BAD \[CLIENTBUG\] Data after STARTTLS$`)
}

func TestImplicitTLS(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.TLS = testTLSConfig(t) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go env.srv.ServeTLS(l)
	conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	line := c.readLine()
	if !contains(line, "AUTH=PLAIN") || contains(line, "STARTTLS") {
		t.Fatalf("greeting %q", line)
	}
	c.login()
}
