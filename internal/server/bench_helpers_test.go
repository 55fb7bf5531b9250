package server

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"github.com/tidemark-mail/tidemark/internal/corpus"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/mailimport"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// What the benchmarks over a socket share: a real server on 127.0.0.1
// over a store in a temporary directory (the transcript harness is tied to
// *testing.T), ways to fill its INBOX, and a raw client that times a
// command from its first byte to its tagged response with every response
// byte read. Figures are in docs/benchmarks.md.

// benchServer is a server with the test user, whose account the benchmark
// fills directly through the store.
type benchServer struct {
	srv  *Server
	st   *sqlitestore.Store
	dir  string
	addr string
	acct store.Account
	mbox store.MailboxInfo // INBOX as it was when the server started
}

// newBenchServer starts a server over a store in a fresh temporary
// directory.
func newBenchServer(b *testing.B) *benchServer {
	b.Helper()
	return newBenchServerIn(b, b.TempDir())
}

// shmDir returns a fresh directory on /dev/shm when there is one, else a
// temporary directory: filling 100,000 messages fsyncs each blob, which
// only slows the set-up, not what is measured.
func shmDir(b *testing.B) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "tidemark-bench-"); err == nil {
			b.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return b.TempDir()
}

// newBenchServerIn starts a server over a store in dir.
func newBenchServerIn(b *testing.B, dir string) *benchServer {
	return newBenchServerWith(b, dir, sqlitestore.Options{})
}

// newBenchServerWith starts a server over a store in dir opened with opts.
func newBenchServerWith(b *testing.B, dir string, opts sqlitestore.Options) *benchServer {
	b.Helper()
	// TIDEMARK_BENCH_NO_TEXT_INDEX=1 measures the store without its text
	// index, as the side-by-side figures in docs/benchmarks.md are.
	opts.NoTextIndex = opts.NoTextIndex || os.Getenv("TIDEMARK_BENCH_NO_TEXT_INDEX") == "1"
	st, err := sqlitestore.Open(dir, opts)
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
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
		acct.Close()
		accts.Close()
		st.Close()
	})
	mb, err := acct.Mailbox(ctx, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	return &benchServer{srv: srv, st: st, dir: dir, addr: l.Addr().String(), acct: acct, mbox: mb}
}

// appendBatches appends n messages, msg(i) for i in 0..n-1, to INBOX in
// transactions of 5,000.
func (bs *benchServer) appendBatches(b *testing.B, n int, msg func(i int) store.NewMessage) {
	b.Helper()
	start := time.Now()
	const batch = 5000
	for i := 0; i < n; i += batch {
		msgs := make([]store.NewMessage, 0, min(batch, n-i))
		for j := i; j < min(i+batch, n); j++ {
			msgs = append(msgs, msg(j))
		}
		if _, err := bs.acct.Append(context.Background(), bs.mbox.ID, msgs); err != nil {
			b.Fatal(err)
		}
	}
	if d := time.Since(start); d > time.Second {
		b.Logf("setup: %d messages appended in %v", n, d.Round(time.Millisecond))
	}
}

// waitTextIndexed waits until the store's background indexer has
// indexed every message of the test user (text_index_pending_after
// gone), reading the user's database beside the server.
func (bs *benchServer) waitTextIndexed(b *testing.B) {
	b.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(bs.dir, "users", testUser, "meta.db")+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	for {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM meta WHERE key = 'text_index_pending_after'`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Logf("setup: text index caught up in %v", time.Since(start).Round(time.Millisecond))
}

// fill appends n messages with the given bodies, every third one \Seen.
func (bs *benchServer) fill(b *testing.B, n int, body func(i int) string) {
	b.Helper()
	bs.appendBatches(b, n, func(i int) store.NewMessage {
		var f store.Flags
		if i%3 == 0 {
			f.System = store.FlagSeen
		}
		return store.NewMessage{Body: strings.NewReader(body(i)), Flags: f}
	})
}

// benchMboxPath is the shared benchmark corpus: 2,000 messages.
var benchMboxPath = corpus.Path()

// benchMboxMessages reads the first n messages of the benchmark corpus
// (all of them when n is 0) as an import would store them, with CRLF line
// ends as they arrive over IMAP or LMTP. It skips the benchmark when the
// corpus is not there.
func benchMboxMessages(b testing.TB, n int) [][]byte {
	f, err := os.Open(benchMboxPath)
	if err != nil {
		b.Skipf("benchmark corpus: %v", err)
	}
	defer f.Close()
	r := mailimport.NewMboxReader(f, benchMboxPath, mailimport.MboxRD)
	var out [][]byte
	for n == 0 || len(out) < n {
		var buf bytes.Buffer
		if _, err := r.Next(&buf); err == io.EOF {
			break
		} else if err != nil {
			b.Fatal(err)
		}
		lf := bytes.ReplaceAll(buf.Bytes(), []byte("\r\n"), []byte("\n"))
		out = append(out, bytes.ReplaceAll(lf, []byte("\n"), []byte("\r\n")))
	}
	return out
}

// benchConn is a raw client connection, logged in, that runs one command
// at a time and counts what it reads.
type benchConn struct {
	b    *testing.B // set to a sub-benchmark's before using it there
	conn net.Conn
	r    *bufio.Reader
	read int64 // response bytes read, tagged lines included
}

// dial connects and logs in.
func (bs *benchServer) dial(b *testing.B) *benchConn {
	conn, err := net.Dial("tcp", bs.addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	c := &benchConn{b: b, conn: conn, r: bufio.NewReaderSize(conn, 1<<20)}
	if l, _ := c.readLine(); !bytes.HasPrefix(l, []byte("* OK")) {
		b.Fatalf("greeting %q", l)
	}
	c.run("L LOGIN " + testUser + " " + testPass)
	return c
}

// dialSelected connects, logs in and selects INBOX.
func (bs *benchServer) dialSelected(b *testing.B) *benchConn {
	c := bs.dial(b)
	c.run("S SELECT INBOX")
	return c
}

// readLine reads one response line, however long, and returns its first
// bufio.Reader-sized piece and its length. The piece is valid until the
// next read.
func (c *benchConn) readLine() (head []byte, size int) {
	l, err := c.r.ReadSlice('\n')
	head, size = l, len(l)
	if err == bufio.ErrBufferFull {
		head = bytes.Clone(l)
	}
	for err == bufio.ErrBufferFull {
		l, err = c.r.ReadSlice('\n')
		size += len(l)
	}
	if err != nil {
		c.b.Fatalf("read: %v", err)
	}
	c.read += int64(size)
	if n := len(l); n > 3 && l[n-3] == '}' && size == len(head) {
		head = bytes.Clone(head) // the literal's reads reuse the buffer
	}
	// A literal: its bytes, then the rest of the line.
	for n := len(l); n > 3 && l[n-3] == '}'; n = len(l) {
		i := bytes.LastIndexByte(l, '{')
		if i < 0 {
			break
		}
		var k int
		fmt.Sscanf(string(l[i+1:n-3]), "%d", &k)
		if _, err := c.r.Discard(k); err != nil {
			c.b.Fatal(err)
		}
		c.read += int64(k)
		size += k
		if l, err = c.r.ReadSlice('\n'); err != nil {
			c.b.Fatalf("read: %v", err)
		}
		c.read += int64(len(l))
		size += len(l)
	}
	return head, size
}

// run sends one command line (tag first; CRLF is added) and reads to its
// tagged response, which must be OK. It returns the number of untagged
// responses and the bytes read, the tagged line included.
func (c *benchConn) run(cmd string) (lines, size int) {
	return c.send(cmd + "\r\n")
}

// send is run for raw command bytes that may carry literals, ending in
// CRLF.
func (c *benchConn) send(raw string) (lines, size int) {
	if _, err := io.WriteString(c.conn, raw); err != nil {
		c.b.Fatal(err)
	}
	tag := []byte(raw[:strings.IndexByte(raw, ' ')+1])
	for {
		l, n := c.readLine()
		size += n
		if bytes.HasPrefix(l, tag) {
			if !bytes.HasPrefix(l[len(tag):], []byte("OK")) {
				c.b.Fatalf("%.60q: %q", raw, l)
			}
			return lines, size
		}
		lines++
	}
}
