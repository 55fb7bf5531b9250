package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// benchServer is a real server on 127.0.0.1 over a store in a temporary
// directory, for benchmarks (the transcript harness is tied to
// *testing.T).
type benchServer struct {
	addr string
	acct store.Account
	mbox store.MailboxInfo
}

func newBenchServer(b *testing.B) *benchServer {
	b.Helper()
	dir := b.TempDir()
	st, err := sqlitestore.Open(dir, sqlitestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	accts, err := auth.OpenAccountsWith(dir, auth.Options{
		Hash:         auth.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		FailureDelay: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := accts.Add(testUser, testPass); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := st.CreateUser(ctx, testUser); err != nil {
		b.Fatal(err)
	}
	srv := New(Config{Store: st, Auth: accts, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	acct, err := st.Open(ctx, testUser)
	if err != nil {
		b.Fatal(err)
	}
	mb, err := acct.Mailbox(ctx, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
		acct.Close()
		accts.Close()
		st.Close()
	})
	return &benchServer{addr: l.Addr().String(), acct: acct, mbox: mb}
}

// fill appends messages in batches of one transaction each.
func (bs *benchServer) fill(b *testing.B, bodies func(i int) string, n int) {
	b.Helper()
	start := time.Now()
	const batch = 5000
	for i := 0; i < n; i += batch {
		var msgs []store.NewMessage
		for j := i; j < min(i+batch, n); j++ {
			f := store.Flags{}
			if j%3 == 0 {
				f.System = store.FlagSeen
			}
			msgs = append(msgs, store.NewMessage{Body: strings.NewReader(bodies(j)), Flags: f})
		}
		if _, err := bs.acct.Append(context.Background(), bs.mbox.ID, msgs); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("setup: %d messages appended in %v", n, time.Since(start).Round(time.Millisecond))
}

// benchConn is a raw client connection with INBOX selected.
type benchConn struct {
	b    *testing.B
	conn net.Conn
	r    *bufio.Reader
}

func (bs *benchServer) dialSelected(b *testing.B) *benchConn {
	conn, err := net.Dial("tcp", bs.addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	c := &benchConn{b: b, conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
	c.run("L LOGIN " + testUser + " " + testPass)
	c.run("S SELECT INBOX")
	return c
}

// run sends a command and reads to its tagged response, returning the
// number of untagged lines and response bytes.
func (c *benchConn) run(cmd string) (lines, size int) {
	tag := cmd[:strings.IndexByte(cmd, ' ')+1]
	if _, err := io.WriteString(c.conn, cmd+"\r\n"); err != nil {
		c.b.Fatal(err)
	}
	for {
		l, err := c.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			size += len(l)
			continue
		}
		if err != nil {
			c.b.Fatal(err)
		}
		size += len(l)
		if bytes.HasPrefix(l, []byte(tag)) {
			if !bytes.HasPrefix(l[len(tag):], []byte("OK")) {
				c.b.Fatalf("%s: %s", cmd, l)
			}
			return lines, size
		}
		lines++
		// Skip literal bytes: the line continues after them.
		if n := len(l); n > 3 && l[n-3] == '}' {
			if i := bytes.LastIndexByte(l, '{'); i >= 0 {
				var k int
				fmt.Sscanf(string(l[i+1:n-3]), "%d", &k)
				if _, err := c.r.Discard(k); err != nil {
					c.b.Fatal(err)
				}
			}
		}
	}
}

// BenchmarkFetchUIDFlags100k is FETCH 1:* (UID FLAGS) over a socket on a
// 100,000-message mailbox (Dovecot: about 45 ms on the reference
// machine).
func BenchmarkFetchUIDFlags100k(b *testing.B) {
	if testing.Short() {
		b.Skip("100,000-message setup")
	}
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("TIDEMARK_BENCH_MESSAGES")); err == nil && v > 0 {
		n = v // a smaller mailbox for profiling
	}
	bs := newBenchServer(b)
	body := "From: a@example.org\r\nSubject: same\r\n\r\nbody\r\n" // one blob for all
	bs.fill(b, func(int) string { return body }, n)
	c := bs.dialSelected(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if lines, _ := c.run("F FETCH 1:* (UID FLAGS)"); lines != n {
			b.Fatalf("%d responses", lines)
		}
	}
}

// BenchmarkFetchEnvelopeStructure is FETCH 1:* (ENVELOPE BODYSTRUCTURE)
// over the 2,000 messages of the shared bench.mbox.
func BenchmarkFetchEnvelopeStructure(b *testing.B) {
	msgs := readBenchMbox(b)
	bs := newBenchServer(b)
	bs.fill(b, func(i int) string { return msgs[i] }, len(msgs))
	c := bs.dialSelected(b)
	b.ReportAllocs()
	b.ResetTimer()
	var size int
	for i := 0; i < b.N; i++ {
		var lines int
		if lines, size = c.run("F FETCH 1:* (ENVELOPE BODYSTRUCTURE)"); lines < len(msgs) {
			b.Fatalf("%d responses", lines)
		}
	}
	b.ReportMetric(float64(size), "resp-bytes")
}

// readBenchMbox splits /work/shared/data/bench.mbox on its "From " lines
// (the benchmark needs the messages, not mboxrd unquoting).
func readBenchMbox(b *testing.B) []string {
	data, err := os.ReadFile("/work/shared/data/bench.mbox")
	if err != nil {
		b.Skip("bench.mbox not available: ", err)
	}
	var msgs []string
	for _, chunk := range bytes.Split(data, []byte("\nFrom ")) {
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			m := strings.ReplaceAll(string(chunk[i+1:]), "\r\n", "\n")
			msgs = append(msgs, strings.ReplaceAll(m, "\n", "\r\n"))
		}
	}
	return msgs
}
