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
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Benchmarks of SEARCH over a real socket, from the command's first byte to
// its tagged OK:
//
//	go test -run XXX -bench Search -benchtime 20x ./internal/server
//
// The data directory is on /dev/shm when there is one: filling 100,000
// messages fsyncs each blob, which only slows the set-up, not a search.

const benchMbox = "/work/shared/data/bench.mbox"

// searchBenchServer starts a server with the test user and returns a
// logged-in connection with INBOX selected, after fill has populated it.
func searchBenchServer(b *testing.B, fill func(a store.Account, id store.MailboxID)) *benchClient {
	b.Helper()
	dir := b.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "tidemark-search-bench-"); err == nil {
			dir = d
			b.Cleanup(func() { os.RemoveAll(d) })
		}
	}
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
	a, err := st.Open(ctx, testUser)
	if err != nil {
		b.Fatal(err)
	}
	mb, err := a.Mailbox(ctx, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	fill(a, mb.ID)
	a.Close()

	srv := New(Config{Store: st, Auth: accts, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	b.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-served
		accts.Close()
		st.Close()
	})
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	c := &benchClient{b: b, conn: conn, r: bufio.NewReaderSize(conn, 1<<20)}
	c.readUntil("* OK")
	c.run("LOGIN " + testUser + " " + testPass)
	c.run("SELECT INBOX")
	return c
}

// benchClient is a raw connection that runs one command at a time.
type benchClient struct {
	b    *testing.B
	conn net.Conn
	r    *bufio.Reader
}

// run sends a command and reads to its tagged response, returning the
// untagged lines' total length; it fails on anything but OK.
func (c *benchClient) run(cmd string) int {
	if _, err := io.WriteString(c.conn, "t "+cmd+"\r\n"); err != nil {
		c.b.Fatal(err)
	}
	return c.readUntil("t ")
}

func (c *benchClient) readUntil(prefix string) int {
	n := 0
	for {
		l, err := c.r.ReadSlice('\n')
		for err == bufio.ErrBufferFull {
			n += len(l)
			l, err = c.r.ReadSlice('\n')
		}
		if err != nil {
			c.b.Fatal(err)
		}
		if bytes.HasPrefix(l, []byte(prefix)) {
			if prefix == "t " && !bytes.HasPrefix(l, []byte("t OK")) {
				c.b.Fatalf("command failed: %s", l)
			}
			return n
		}
		n += len(l)
	}
}

// readMbox splits an mbox file into messages on "From " lines.
func readMbox(b *testing.B, path string) [][]byte {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Skipf("no benchmark mailbox: %v", err)
	}
	var msgs [][]byte
	var cur []byte
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("From ")) {
			if cur != nil {
				msgs = append(msgs, cur)
			}
			cur = []byte{}
			continue
		}
		if cur != nil {
			cur = append(cur, line...)
		}
	}
	if len(cur) > 0 {
		msgs = append(msgs, cur)
	}
	return msgs
}

func appendBatches(b *testing.B, a store.Account, id store.MailboxID, msgs []store.NewMessage) {
	for len(msgs) > 0 {
		n := min(len(msgs), 5000)
		if _, err := a.Append(context.Background(), id, msgs[:n]); err != nil {
			b.Fatal(err)
		}
		msgs = msgs[n:]
	}
}

// BenchmarkSearchBenchMbox searches the 2,000 messages of bench.mbox.
func BenchmarkSearchBenchMbox(b *testing.B) {
	raw := readMbox(b, benchMbox)
	c := searchBenchServer(b, func(a store.Account, id store.MailboxID) {
		msgs := make([]store.NewMessage, len(raw))
		for i, m := range raw {
			msgs[i] = store.NewMessage{Body: bytes.NewReader(m)}
		}
		appendBatches(b, a, id, msgs)
	})
	for _, q := range []string{
		`SEARCH TEXT "benchmark"`,
		`SEARCH TEXT "zzzznotthere"`,
		`SEARCH BODY "invoice"`,
		`SEARCH SUBJECT "report"`,
		`SEARCH FROM "evans"`,
		`SEARCH UNSEEN SUBJECT "password"`,
	} {
		b.Run(strings.ReplaceAll(strings.TrimPrefix(q, "SEARCH "), `"`, ""), func(b *testing.B) {
			c.b = b
			b.ReportAllocs()
			for b.Loop() {
				c.run(q)
			}
			b.ReportMetric(float64(len(raw))*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkSearch100k searches flags over 100,000 messages: every other
// one \Seen, every hundredth \Flagged.
func BenchmarkSearch100k(b *testing.B) {
	const n = 100_000
	c := searchBenchServer(b, func(a store.Account, id store.MailboxID) {
		msgs := make([]store.NewMessage, n)
		for i := range msgs {
			var f store.Flags
			if i%2 == 0 {
				f.System |= store.FlagSeen
			}
			if i%100 == 0 {
				f.System |= store.FlagFlagged
			}
			body := fmt.Sprintf("From: a@example.org\r\nSubject: message %d\r\n\r\nbody\r\n", i%10)
			msgs[i] = store.NewMessage{Body: strings.NewReader(body), Flags: f}
		}
		appendBatches(b, a, id, msgs)
	})
	for _, q := range []string{
		"SEARCH UNSEEN",
		"SEARCH FLAGGED",
		"UID SEARCH RETURN (COUNT) UNSEEN",
		"SEARCH RETURN (MIN) UNSEEN",
		"UID SEARCH FLAGGED UID 90000:*",
	} {
		b.Run(strings.ReplaceAll(q, " ", "_"), func(b *testing.B) {
			c.b = b
			b.ReportAllocs()
			for b.Loop() {
				c.run(q)
			}
		})
	}
}
