package server

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/loadtest"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// BenchmarkSmallWrites times 125 small writes pipelined by one session on
// a mailbox of N messages while another session of the same mailbox waits
// in IDLE and is told of each: 50 UID STOREs (25 flag toggles, 25
// \Deleted), 25 UID EXPUNGEs of one message each and 25 APPENDs, from the
// first byte sent to the last tagged OK. Every write is durable before its
// OK. A change to one message should cost the same in a mailbox of any
// size, so the two sizes should take about the same time per operation.
//
//	go test ./internal/server -run '^$' -bench BenchmarkSmallWrites -benchtime 20x
//
// TIDEMARK_BENCH_LARGE=1 adds 1,000,000 messages.
func BenchmarkSmallWrites(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if os.Getenv("TIDEMARK_BENCH_LARGE") != "" {
		sizes = append(sizes, 1_000_000)
	}
	const body = "From: a@example.org\r\nSubject: message\r\n\r\nbody\r\n"
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			bs := newBenchServer(b)
			bs.fill(b, n, func(int) string { return body })
			benchSmallWrites(b, bs, n, func(i int) string {
				return fmt.Sprintf("Subject: new %d\r\n\r\nx\r\n", i)
			})
		})
	}
	// As tidemark load's smallwrites scenario against tidemark serve: the
	// mailbox and the appends copies of the corpus made distinct
	// (loadtest.DistinctCopy), so the text index has real words to write,
	// and the index written behind appends as serve has it.
	b.Run("corpus-10000", func(b *testing.B) {
		msgs := benchMboxMessages(b, 0)
		distinct := func(i int) string { return string(loadtest.DistinctCopy(msgs[i%len(msgs)], i)) }
		bs := newBenchServerWith(b, b.TempDir(), sqlitestore.Options{TextIndexBehind: true})
		bs.fill(b, 10_000, distinct)
		bs.waitTextIndexed(b)
		benchSmallWrites(b, bs, 10_000, func(i int) string { return distinct(i) })
	})
}

// benchSmallWrites runs the commands on bs, whose INBOX holds UIDs 1..n,
// appending appended(UID).
func benchSmallWrites(b *testing.B, bs *benchServer, n int, appended func(int) string) {
	live := make([]store.UID, n) // the mailbox's UIDs, ascending
	for i := range live {
		live[i] = store.UID(i + 1)
	}
	next := store.UID(n + 1)

	// The other session: selected, in IDLE, its responses drained.
	idler := bs.dialSelected(b)
	if _, err := io.WriteString(idler.conn, "I IDLE\r\n"); err != nil {
		b.Fatal(err)
	}
	if l, _ := idler.readLine(); !bytes.HasPrefix(l, []byte("+")) {
		b.Fatalf("IDLE: %q", l)
	}
	go io.Copy(io.Discard, idler.conn)

	w := bs.dialSelected(b)
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	var cmd bytes.Buffer
	b.ReportAllocs()
	cpu := startCPU(b)
	syncs := bs.st.WALSyncs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cmd.Reset()
		tag := 0
		line := func(format string, args ...any) {
			fmt.Fprintf(&cmd, "w%d ", tag)
			fmt.Fprintf(&cmd, format, args...)
			cmd.WriteString("\r\n")
			tag++
		}
		op := "+"
		if i%2 == 1 {
			op = "-"
		}
		for k := 0; k < 25; k++ {
			line("UID STORE %d %sFLAGS (\\Flagged)", live[rng.IntN(len(live))], op)
		}
		for k := 0; k < 25; k++ {
			j := rng.IntN(len(live))
			u := live[j]
			live = append(live[:j], live[j+1:]...)
			line("UID STORE %d +FLAGS.SILENT (\\Deleted)", u)
			line("UID EXPUNGE %d", u)
		}
		for k := 0; k < 25; k++ {
			m := appended(int(next))
			fmt.Fprintf(&cmd, "w%d APPEND INBOX {%d+}\r\n%s\r\n", tag, len(m), m)
			tag++
			live = append(live, next)
			next++
		}
		b.StartTimer()
		w.pipeline(cmd.Bytes(), tag)
	}
	b.StopTimer()
	cpu.report(b)
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/125, "µs/write")
	b.ReportMetric(float64(bs.st.WALSyncs()-syncs)/float64(b.N), "syncs/op")
	b.ReportMetric(float64(bs.st.WALSyncs()-syncs)/float64(b.N), "syncs/op")
	idler.conn.(*net.TCPConn).CloseWrite()
}

// pipeline writes raw, holding commands tagged w0 .. w(tags-1) in order,
// and reads until the last one's tagged response; every one must be OK.
func (c *benchConn) pipeline(raw []byte, tags int) {
	if _, err := c.conn.Write(raw); err != nil {
		c.b.Fatal(err)
	}
	last := fmt.Sprintf("w%d ", tags-1)
	for {
		l, _ := c.readLine()
		if l[0] == 'w' {
			if f := strings.Fields(string(l)); len(f) < 2 || f[1] != "OK" {
				c.b.Fatalf("%q", l)
			}
			if bytes.HasPrefix(l, []byte(last)) {
				return
			}
		}
	}
}

// cpuClock reports the process's CPU time (user and system, server and
// client together) per operation: on a machine shared with other work the
// wall time of a benchmark swings with their load, its CPU time far less.
type cpuClock struct{ start time.Duration }

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B) cpuClock { return cpuClock{processCPU(b)} }

func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64((processCPU(b)-c.start).Microseconds())/float64(b.N), "cpu-µs/op")
}
