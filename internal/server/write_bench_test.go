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
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/mailimport"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Benchmarks of the write commands through a real socket, as a client
// sees them: from the command's first byte to its tagged response, with
// every response byte read. Figures are in docs/benchmarks.md.

// writeBenchServer starts a server on 127.0.0.1 over a store in a temporary
// directory and returns its address and the user's account.
func writeBenchServer(b *testing.B) (string, store.Account) {
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
	ctx := context.Background()
	if err := accts.Add(testUser, testPass); err != nil {
		b.Fatal(err)
	}
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
	return l.Addr().String(), acct
}

// writeBenchConn is a minimal raw client that counts what it reads.
type writeBenchConn struct {
	b    *testing.B
	conn net.Conn
	r    *bufio.Reader
	read int64
}

func dialWriteBench(b *testing.B, addr string) *writeBenchConn {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	c := &writeBenchConn{b: b, conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
	c.line()
	c.do("L LOGIN " + testUser + " " + testPass + "\r\n")
	return c
}

func (c *writeBenchConn) line() string {
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.b.Fatalf("read: %v", err)
	}
	c.read += int64(len(l))
	return l
}

// do sends raw command bytes (tag first) and reads up to the tagged
// response, which must be OK; it returns the tagged line.
func (c *writeBenchConn) do(cmd string) string {
	if _, err := io.WriteString(c.conn, cmd); err != nil {
		c.b.Fatal(err)
	}
	tag := cmd[:strings.IndexByte(cmd, ' ')+1]
	for {
		l := c.line()
		if strings.HasPrefix(l, tag) {
			if !strings.HasPrefix(l[len(tag):], "OK") {
				c.b.Fatalf("%q: %q", cmd[:min(len(cmd), 60)], l)
			}
			return l
		}
	}
}

// fillInboxByCopy puts n small messages in INBOX: 100 appended, then copied
// (COPY shares the bytes) until there are n.
func fillInboxByCopy(b *testing.B, acct store.Account, n int) {
	b.Helper()
	ctx := context.Background()
	mb, err := acct.Mailbox(ctx, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	var msgs []store.NewMessage
	for i := 0; i < min(n, 100); i++ {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(testMessage(fmt.Sprint("bench ", i)))})
	}
	if _, err := acct.Append(ctx, mb.ID, msgs); err != nil {
		b.Fatal(err)
	}
	for have := len(msgs); have < n; {
		k := min(have, n-have)
		if _, err := acct.Copy(ctx, mb.ID, mb.ID, store.UIDSet{{Start: 1, Stop: store.UID(k)}}); err != nil {
			b.Fatal(err)
		}
		have += k
	}
}

// BenchmarkStore100k times STORE 1:* over 100,000 messages, alternating
// +FLAGS and -FLAGS so that every repetition changes every message.
func BenchmarkStore100k(b *testing.B) {
	addr, acct := writeBenchServer(b)
	fillInboxByCopy(b, acct, 100_000)
	for _, silent := range []string{"", ".SILENT"} {
		b.Run("FLAGS"+silent, func(b *testing.B) {
			c := dialWriteBench(b, addr)
			c.do("s SELECT INBOX\r\n")
			b.ReportAllocs()
			b.ResetTimer()
			c.read = 0
			i := 0
			for b.Loop() {
				op := "+"
				if i%2 == 1 {
					op = "-"
				}
				c.do(fmt.Sprintf("t%d STORE 1:* %sFLAGS%s (\\Flagged)\r\n", i, op, silent))
				i++
			}
			b.ReportMetric(float64(c.read)/float64(i), "resp-bytes/op")
			c.do(fmt.Sprintf("z STORE 1:* -FLAGS.SILENT (\\Flagged)\r\n"))
		})
	}
}

// corpusMessages reads the first n messages of the benchmark corpus.
func corpusMessages(b *testing.B, n int) [][]byte {
	const path = "/work/shared/data/bench.mbox"
	f, err := os.Open(path)
	if err != nil {
		b.Skipf("corpus: %v", err)
	}
	defer f.Close()
	r := mailimport.NewMboxReader(f, path, mailimport.MboxRD)
	var out [][]byte
	for len(out) < n {
		var buf bytes.Buffer
		if _, err := r.Next(&buf); err != nil {
			b.Fatal(err)
		}
		out = append(out, buf.Bytes())
	}
	return out
}

// BenchmarkAppend100 appends 100 corpus messages, one APPEND each or one
// MULTIAPPEND, with LITERAL+ (the client does not wait for continuations).
func BenchmarkAppend100(b *testing.B) {
	msgs := corpusMessages(b, 100)
	addr, _ := writeBenchServer(b)
	b.Run("single", func(b *testing.B) {
		c := dialWriteBench(b, addr)
		b.ReportAllocs()
		for b.Loop() {
			for _, m := range msgs {
				c.do(fmt.Sprintf("a APPEND INBOX {%d+}\r\n%s\r\n", len(m), m))
			}
		}
	})
	b.Run("multi", func(b *testing.B) {
		c := dialWriteBench(b, addr)
		var cmd bytes.Buffer
		cmd.WriteString("a APPEND INBOX")
		for _, m := range msgs {
			fmt.Fprintf(&cmd, " {%d+}\r\n%s", len(m), m)
		}
		cmd.WriteString("\r\n")
		b.ReportAllocs()
		for b.Loop() {
			c.do(cmd.String())
		}
	})
}
