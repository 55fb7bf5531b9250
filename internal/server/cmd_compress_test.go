package server

import (
	"bufio"
	"compress/flate"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// deflateConn is the client's side of COMPRESS DEFLATE: reads inflate,
// every write is compressed and sync-flushed. raw counts the bytes that
// crossed the socket towards the client.
type deflateConn struct {
	net.Conn
	r   io.Reader
	w   *flate.Writer
	raw *atomic.Int64
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func newDeflateConn(t *testing.T, nc net.Conn, early io.Reader) *deflateConn {
	t.Helper()
	raw := new(atomic.Int64)
	src := io.Reader(countingReader{nc, raw})
	if early != nil {
		src = io.MultiReader(early, src)
	}
	w, err := flate.NewWriter(nc, flate.DefaultCompression)
	if err != nil {
		t.Fatal(err)
	}
	return &deflateConn{Conn: nc, r: flate.NewReader(src), w: w, raw: raw}
}

func (d *deflateConn) Read(p []byte) (int, error) { return d.r.Read(p) }

func (d *deflateConn) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	if err == nil {
		err = d.w.Flush()
	}
	return n, err
}

// compress turns COMPRESS DEFLATE on for a logged-in raw client; the
// bytes the client had buffered past the OK are compressed ones.
func (c *client) compress() *deflateConn {
	c.t.Helper()
	c.send("Z COMPRESS DEFLATE")
	c.expect(`^Z OK DEFLATE active$`)
	var early io.Reader
	if n := c.r.Buffered(); n > 0 {
		b, _ := c.r.Peek(n)
		early = strings.NewReader(string(b))
	}
	dc := newDeflateConn(c.t, c.conn, early)
	c.conn, c.r = dc, bufio.NewReader(dc)
	return dc
}

// RFC 4978 3: COMPRESS after login, responses and commands compressed
// from just after the tagged OK, a repeat refused with COMPRESSIONACTIVE,
// a synchronizing literal's continuation request flushed compressed.
func TestCompressRaw(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{})
	c := env.dial()
	c.send("a CAPABILITY")
	if caps := c.expect(`^\* CAPABILITY `, `^a OK`)[0]; contains(caps, "COMPRESS=DEFLATE") {
		t.Fatalf("COMPRESS offered before login: %q", caps)
	}
	c.send("b COMPRESS DEFLATE")
	c.expect(`^b BAD COMPRESS is not valid in the not authenticated state$`)
	c.login()
	c.send("a CAPABILITY")
	if caps := c.expect(`^\* CAPABILITY `, `^a OK`)[0]; !contains(caps, "COMPRESS=DEFLATE") {
		t.Fatalf("COMPRESS not offered after login: %q", caps)
	}
	c.send("c COMPRESS GZIP")
	c.expect(`^c BAD \[CLIENTBUG\] Unknown compression mechanism GZIP$`)
	c.send("d COMPRESS")
	c.expect(`^d BAD `)
	c.compress()
	c.mbxRun("E1 ENABLE IMAP4rev2", "* ENABLED IMAP4rev2", "E1 OK ENABLE completed")
	c.send("e SELECT INBOX")
	c.until("e OK")
	c.send("f FETCH 1:* (UID FLAGS)")
	c.expect(`^\* 1 FETCH \(UID 1 FLAGS \(\)\)$`, `^\* 2 FETCH`, `^\* 3 FETCH`, `^f OK FETCH completed$`)
	c.send("g COMPRESS DEFLATE")
	c.expect(`^g NO \[COMPRESSIONACTIVE\] DEFLATE active via COMPRESS$`)
	// A synchronizing literal: the "+" must reach the client at once.
	msg := "Subject: hello\r\n\r\nover deflate\r\n"
	c.send(fmt.Sprintf("h APPEND INBOX {%d}", len(msg)))
	c.expect(`^\+ `)
	c.send(msg)
	c.expect(`^\* 4 EXISTS$`, `^h OK \[APPENDUID \d+ 4\] APPEND completed$`)
	c.send("i FETCH 4 BODY.PEEK[TEXT]")
	c.expect(`^\* 4 FETCH \(BODY\[TEXT\] \{14\}$`)
	c.expect(`^over deflate$`, `^\)$`, `^i OK FETCH completed$`)
	c.send("j LOGOUT")
	c.expect(`^\* BYE `, `^j OK `)
	expectClosedCompressed(c)
}

// expectClosedCompressed checks that the server closed a compressed
// connection: the stream just stops (no final DEFLATE block).
func expectClosedCompressed(c *client) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(hangDeadline))
	if l, err := c.r.ReadString('\n'); err != io.EOF && err != io.ErrUnexpectedEOF {
		c.t.Fatalf("want connection closed, got %q %v", l, err)
	}
}

// A client that sends its first compressed command right behind COMPRESS
// (without waiting, which RFC 4978 forbids but a pipelining client may
// do) is still understood: the early bytes go to the decompressor.
func TestCompressEarlyBytes(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.dial()
	c.login()
	var early strings.Builder
	w, _ := flate.NewWriter(&early, flate.BestSpeed)
	io.WriteString(w, "n NOOP\r\n")
	w.Flush()
	if _, err := io.WriteString(c.conn, "Z COMPRESS DEFLATE\r\n"+early.String()); err != nil {
		t.Fatal(err)
	}
	c.expect(`^Z OK DEFLATE active$`)
	// The client goes on with the compressor it started.
	var pending io.Reader
	if n := c.r.Buffered(); n > 0 {
		b, _ := c.r.Peek(n)
		pending = strings.NewReader(string(b))
	}
	dc := newDeflateConn(t, c.conn, pending)
	dc.w = w
	w.Reset(c.conn)
	c.conn, c.r = dc, bufio.NewReader(dc)
	c.expect(`^n OK NOOP completed$`)
}

// COMPRESS over TLS (STARTTLS): compressed, then encrypted; and IDLE
// updates of a compressed session arrive one by one, each flushed.
func TestCompressTLSAndIdle(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.TLS = testTLSConfig(t) })
	c := env.dial()
	c.send("t STARTTLS")
	c.expect(`^t OK Begin TLS negotiation now$`)
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	c.loginRev2()
	c.compress()
	c.send("s SELECT INBOX")
	c.until("s OK")
	c.send("i IDLE")
	c.expect(`^\+ idling$`)
	for n := 1; n <= 3; n++ {
		env.appendMessages("INBOX", 1, store.Flags{})
		c.expect(fmt.Sprintf(`^\* %d EXISTS$`, n))
	}
	c.send("DONE")
	c.until("i OK IDLE completed")
}

// COMPRESS saves bandwidth: the same FETCH of envelopes costs far fewer
// bytes on the wire compressed than plain.
func TestCompressSavesBytes(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 200, store.Flags{})
	fetch := func(c *client) {
		c.send("s SELECT INBOX")
		c.until("s OK")
		c.send("f FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
		if got := c.until("f OK"); len(got) != 201 {
			t.Fatalf("%d lines", len(got))
		}
	}
	plain := env.dial()
	plain.login()
	fetch(plain) // warm up the shared mailbox
	raw := new(atomic.Int64)
	plain.r = bufio.NewReader(countingReader{plain.conn, raw})
	fetch(plain)
	z := env.dial()
	z.login()
	dc := z.compress()
	before := dc.raw.Load()
	fetch(z)
	zipped := dc.raw.Load() - before
	t.Logf("FETCH 1:* (ENVELOPE BODYSTRUCTURE) of 200 messages: %d bytes plain, %d compressed", raw.Load(), zipped)
	if zipped*3 > raw.Load() {
		t.Fatalf("compressed %d bytes, plain %d: less than 3:1", zipped, raw.Load())
	}
}

// MaxCompressed caps the compressing connections: past it COMPRESS is
// refused with NO [LIMIT] and the session goes on uncompressed; the slot
// comes back when a compressing connection ends.
func TestCompressLimit(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.MaxCompressed = 1 })
	a := env.dial()
	a.login()
	a.compress()
	b := env.dial()
	b.login()
	b.send("z COMPRESS DEFLATE")
	b.expect(`^z NO \[LIMIT\] Too many compressed connections; continuing uncompressed$`)
	b.send("n NOOP")
	b.expect(`^n OK NOOP completed$`)
	a.send("l LOGOUT")
	a.until("l OK")
	expectClosedCompressed(a)
	deadline := time.Now().Add(hangDeadline)
	for i := 0; ; i++ {
		tag := fmt.Sprintf("y%d", i)
		b.send(tag + " COMPRESS DEFLATE")
		l := b.readLine()
		if strings.HasPrefix(l, tag+" OK") {
			break
		}
		if !strings.HasPrefix(l, tag+" NO [LIMIT]") || time.Now().After(deadline) {
			t.Fatalf("after the other connection ended: %q", l)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// go-imap's client, which has no COMPRESS of its own, runs over a
// compressed connection: this test turns COMPRESS on by hand, then hands
// the client the inflated stream (after a PREAUTH greeting of the test's
// making, since the real greeting went by before) and lets it select,
// fetch and IDLE.
func TestCompressImapclient(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 5, store.Flags{System: store.FlagSeen})
	c := env.dial()
	c.login()
	dc := c.compress()
	dc.r = io.MultiReader(strings.NewReader("* PREAUTH [CAPABILITY IMAP4rev1 IDLE] ready\r\n"), dc.r)
	exists := make(chan uint32, 10)
	cl := imapclient.New(dc, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					exists <- *d.NumMessages
				}
			},
		},
	})
	defer cl.Close()
	sel, err := cl.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 5 {
		t.Fatalf("select %+v %v", sel, err)
	}
	msgs, err := cl.Fetch(imap.SeqSetNum(1, 2, 3, 4, 5), &imap.FetchOptions{Envelope: true, UID: true}).Collect()
	if err != nil || len(msgs) != 5 || msgs[4].Envelope.Subject != "m4" {
		t.Fatalf("fetch %v", err)
	}
	idleForExists(t, env, cl, exists, 6)
	if err := cl.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}

// A compressing client that stops reading is dropped after WriteTimeout,
// like any other: the deadline is on the socket under the compressor.
func TestCompressWriteTimeout(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.WriteTimeout = 200 * time.Millisecond })
	// Bytes deflate cannot shrink much (base64 of pseudo-random bytes,
	// fixed seed): about 10 MB compressed, well above what the kernel
	// buffers of both ends hold.
	var msgs []store.NewMessage
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 12 {
		raw := make([]byte, 768<<10)
		for i := range raw {
			raw[i] = byte(rnd.Uint32())
		}
		enc := base64.StdEncoding.EncodeToString(raw)
		var b strings.Builder
		b.WriteString("Subject: big\r\n\r\n")
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(b.String())})
	}
	a := env.account()
	mb, _ := a.Mailbox(t.Context(), "INBOX")
	if _, err := a.Append(t.Context(), mb.ID, msgs); err != nil {
		t.Fatal(err)
	}
	c := env.dial()
	if tc, ok := c.conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096)
	}
	c.login()
	c.compress()
	c.send("s SELECT INBOX")
	c.until("s OK")
	c.send("f FETCH 1:* BODY.PEEK[]")
	deadline := time.Now().Add(hangDeadline)
	for env.srv.connCount() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("compressed session of a client that stopped reading still open")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// With MaxCompressed negative COMPRESS is neither offered nor accepted.
func TestCompressOff(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.MaxCompressed = -1 })
	c := env.dial()
	c.login()
	c.send("a CAPABILITY")
	if caps := c.expect(`^\* CAPABILITY `, `^a OK`)[0]; contains(caps, "COMPRESS") {
		t.Fatalf("COMPRESS offered: %q", caps)
	}
	c.send("z COMPRESS DEFLATE")
	c.expect(`^z BAD \[CLIENTBUG\] COMPRESS is not offered$`)
	c.send("n NOOP")
	c.expect(`^n OK NOOP completed$`)
}
