package server

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
)

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
	bs.fill(b, n, func(int) string { return body })
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
	msgs := benchMboxMessages(b, 0)
	bs := newBenchServer(b)
	bs.fill(b, len(msgs), func(i int) string { return string(msgs[i]) })
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

// BenchmarkFetchRecent fetches content from the end of the 2,000 messages
// of bench.mbox, as `tidemark load --scenario fetch-recent` does over a
// mailbox: the last 200 BODYSTRUCTUREs, the last 200 ENVELOPEs, the last
// 50 BODY.PEEK[], BINARY.PEEK[] and BINARY.PEEK[1]; and the last 200
// PREVIEWs. The -cold forms empty the caches of decompressed bodies and
// written structures before each FETCH: what a first read costs.
func BenchmarkFetchRecent(b *testing.B) {
	msgs := benchMboxMessages(b, 0)
	bs := newBenchServer(b)
	bs.fill(b, len(msgs), func(i int) string { return string(msgs[i]) })
	n := len(msgs)
	for _, f := range []struct {
		name, cmd string
		want      int
	}{
		{"bodystructure", fmt.Sprintf("F FETCH %d:* (BODYSTRUCTURE)", n-199), 200},
		{"envelope", fmt.Sprintf("F FETCH %d:* (ENVELOPE)", n-199), 200},
		{"body", fmt.Sprintf("F FETCH %d:* BODY.PEEK[]", n-49), 50},
		{"binary", fmt.Sprintf("F FETCH %d:* BINARY.PEEK[]", n-49), 50},
		{"binary1", fmt.Sprintf("F FETCH %d:* BINARY.PEEK[1]", n-49), 50},
		{"preview", fmt.Sprintf("F FETCH %d:* (PREVIEW)", n-199), 200},
		{"bodystructure-cold", fmt.Sprintf("F FETCH %d:* (BODYSTRUCTURE)", n-199), 200},
		{"body-cold", fmt.Sprintf("F FETCH %d:* BODY.PEEK[]", n-49), 50},
		{"binary1-cold", fmt.Sprintf("F FETCH %d:* BINARY.PEEK[1]", n-49), 50},
	} {
		cold := strings.HasSuffix(f.name, "-cold")
		b.Run(f.name, func(b *testing.B) {
			c := bs.dialSelected(b)
			b.ReportAllocs()
			cpu := startCPU(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if cold {
					sqlitestore.DropReadCaches()
					structureRenders.Clear()
				}
				if lines, _ := c.run(f.cmd); lines != f.want {
					b.Fatalf("%d responses", lines)
				}
			}
			b.StopTimer()
			cpu.report(b)
		})
	}
}
