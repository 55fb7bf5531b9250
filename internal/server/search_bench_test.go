package server

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Benchmarks of SEARCH over a real socket, from the command's first byte to
// its tagged OK:
//
//	go test -run XXX -bench Search -benchtime 20x ./internal/server
//
// The data directory is on /dev/shm when there is one (see shmDir).

// searchBenchServer starts a server (on /dev/shm when there is one) with
// INBOX filled by fill and returns a logged-in connection with INBOX
// selected.
func searchBenchServer(b *testing.B, fill func(bs *benchServer)) *benchConn {
	b.Helper()
	bs := newBenchServerIn(b, shmDir(b))
	fill(bs)
	return bs.dialSelected(b)
}

// BenchmarkSearchBenchMbox searches the 2,000 messages of bench.mbox.
func BenchmarkSearchBenchMbox(b *testing.B) {
	raw := benchMboxMessages(b, 0)
	c := searchBenchServer(b, func(bs *benchServer) {
		bs.appendBatches(b, len(raw), func(i int) store.NewMessage {
			return store.NewMessage{Body: bytes.NewReader(raw[i])}
		})
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
				c.run("t " + q)
			}
			b.ReportMetric(float64(len(raw))*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkSearch100k searches flags over 100,000 messages: every other
// one \Seen, every hundredth \Flagged.
func BenchmarkSearch100k(b *testing.B) {
	const n = 100_000
	c := searchBenchServer(b, func(bs *benchServer) {
		bs.appendBatches(b, n, func(i int) store.NewMessage {
			var f store.Flags
			if i%2 == 0 {
				f.System |= store.FlagSeen
			}
			if i%100 == 0 {
				f.System |= store.FlagFlagged
			}
			body := fmt.Sprintf("From: a@example.org\r\nSubject: message %d\r\n\r\nbody\r\n", i%10)
			return store.NewMessage{Body: strings.NewReader(body), Flags: f}
		})
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
				c.run("t " + q)
			}
		})
	}
}
