package replica

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/tlscert"
)

// serve starts n's replication listener with a shared secret and returns
// its address.
func serve(t testing.TB, n *node, secret string) string {
	t.Helper()
	cfg, err := tlscert.Load(n.dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Local: n.side, Auth: Auth{Secret: []byte(secret), TLS: cfg}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { ln.Close(); srv.Close() })
	return ln.Addr().String()
}

func dial(t testing.TB, n *node, addr, secret string) *Client {
	t.Helper()
	c, err := Dial(ctx, addr, Auth{Secret: []byte(secret), TLS: &tls.Config{MinVersion: tls.VersionTLS12}}, n.name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSyncOverNetwork: the same sync, with B behind its TLS listener:
// both directions, bodies only once, and an idle resync costs a few
// hundred bytes.
func TestSyncOverNetwork(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	addr := serve(t, b, "s3cret")
	for i := 1; i <= 20; i++ {
		a.append("alice", "INBOX", msg(i), store.Flags{})
	}
	b.append("bob", "INBOX", msg(100), store.Flags{System: store.FlagSeen})
	c := dial(t, a, addr, "s3cret")
	if c.Node() != "b" {
		t.Fatalf("peer node %q", c.Node())
	}
	st, err := Sync(ctx, a.side, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Users != 2 || st.Bodies != 21 {
		t.Fatalf("stats %+v", st)
	}
	assertSame(t, "alice", true, a, b)
	assertSame(t, "bob", true, a, b)

	a.setFlags("alice", "INBOX", 3, store.FlagsAdd, store.Flags{System: store.FlagSeen})
	b.expunge("alice", "INBOX", 4)
	if _, err := Sync(ctx, a.side, c, Options{}); err != nil {
		t.Fatal(err)
	}
	assertSame(t, "alice", false, a, b)

	r0, w0 := c.Bytes()
	st, err = Sync(ctx, a.side, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r1, w1 := c.Bytes()
	if st.Mailboxes != 0 || st.Appends != 0 {
		t.Fatalf("idle sync moved something: %+v", st)
	}
	// Per user: account states, peer states and one ChangesSince per
	// mailbox, each a few hundred bytes.
	if n := (r1 - r0) + (w1 - w0); n > 16<<10 {
		t.Fatalf("idle sync of two users cost %d bytes", n)
	}
	t.Logf("idle sync of two one-mailbox users: %d bytes", (r1-r0)+(w1-w0))
}

// TestAuthRefused: a wrong secret gets nowhere, in either direction.
func TestAuthRefused(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	addr := serve(t, b, "right")
	_, err := Dial(ctx, addr, Auth{Secret: []byte("wrong"), TLS: &tls.Config{}}, "a")
	if err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("wrong secret: %v", err)
	}
	// A client that skips Hello is refused every call.
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	cl := &Client{rpc: newRPCClient(conn), conn: conn, counter: &countingConn{Conn: conn}}
	defer cl.Close()
	if _, err := cl.Users(ctx); err == nil || !strings.Contains(err.Error(), "not authenticated") {
		t.Fatalf("users without hello: %v", err)
	}
	if _, err := cl.Open(ctx, "alice", true); err == nil {
		t.Fatal("open without hello succeeded")
	}
	if users, _ := b.store.Users(ctx); len(users) != 0 {
		t.Fatalf("users created: %v", users)
	}
	_ = a
}

// TestContinuousPush: with each side pushing to the other, a change made
// through either side's (wrapped) store reaches the other without any
// explicit sync, and both end identical.
func TestContinuousPush(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	addrA, addrB := serve(t, a, "0123456789abcdef"), serve(t, b, "0123456789abcdef")
	run := func(n *node, peer string) (*Pusher, store.Store) {
		p := &Pusher{Local: n.side, Addr: peer, Auth: Auth{Secret: []byte("0123456789abcdef"), TLS: &tls.Config{}}, FullEvery: time.Hour}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { p.Run(cctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		return p, Notify(n.store, p.Changed)
	}
	_, stA := run(a, addrB)
	_, stB := run(b, addrA)
	if err := stA.CreateUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	appendVia := func(st store.Store, body string) {
		acct, err := st.Open(ctx, "carol")
		if err != nil {
			t.Fatal(err)
		}
		defer acct.Close()
		in, err := acct.Mailbox(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := acct.Append(ctx, in.ID, []store.NewMessage{{Body: strings.NewReader(body)}}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(n *node, want int) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			if users, _ := n.store.Users(ctx); len(users) == 1 {
				if len(contents(t, n, "carol", "INBOX")) == want {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never got %d messages", n.name, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	appendVia(stA, msg(1))
	waitFor(b, 1)
	appendVia(stB, msg(2))
	waitFor(a, 2)
	appendVia(stA, msg(3))
	waitFor(b, 3)
	// Settled: both the same.
	deadline := time.Now().Add(20 * time.Second)
	for dump(t, a, "carol", false) != dump(t, b, "carol", false) {
		if time.Now().After(deadline) {
			assertSame(t, "carol", false, a, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newCA makes a CA and returns a function issuing certificates it signs.
func newCA(t *testing.T) (*x509.CertPool, func() tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "replica CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	serial := int64(1)
	issue := func() tls.Certificate {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		serial++
		leaf := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "replica"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
		d, err := x509.CreateCertificate(rand.Reader, leaf, ca, &k.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{d}, PrivateKey: k}
	}
	return pool, issue
}

// TestMutualTLS: without a secret, replicas whose certificates the CA
// signed sync; a client with a certificate from another CA, or none, is
// refused at the handshake.
func TestMutualTLS(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	pool, issue := newCA(t)
	srvCfg := &tls.Config{Certificates: []tls.Certificate{issue()}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv := &Server{Local: b.side, Auth: Auth{TLS: srvCfg}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { ln.Close(); srv.Close() })
	a.append("alice", "INBOX", msg(1), store.Flags{})
	cli := issue()
	c, err := Dial(ctx, ln.Addr().String(), Auth{TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cli}}}, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := Sync(ctx, a.side, c, Options{}); err != nil {
		t.Fatal(err)
	}
	assertSame(t, "alice", true, a, b)

	_, otherIssue := newCA(t)
	for name, certs := range map[string][]tls.Certificate{"another CA": {otherIssue()}, "no certificate": nil} {
		if _, err := Dial(ctx, ln.Addr().String(), Auth{TLS: &tls.Config{RootCAs: pool, Certificates: certs}}, "x"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
