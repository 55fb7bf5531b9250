package server

import (
	"bufio"
	"bytes"
	"compress/flate"
	"io"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCompressFetch is FETCH 1:* (ENVELOPE BODYSTRUCTURE) over the
// 2,000 messages of bench.mbox, plain and under COMPRESS DEFLATE: the
// bytes that cross the socket (wire-bytes) against the response's own
// (resp-bytes), and the CPU time of the whole process — server and client
// in one — per MB of response (cpu-ms/MB). The difference between the two
// is what compressing (server) and inflating (client) cost.
func BenchmarkCompressFetch(b *testing.B) {
	msgs := benchMboxMessages(b, 0)
	bs := newBenchServer(b)
	bs.fill(b, len(msgs), func(i int) string { return string(msgs[i]) })
	for _, compressed := range []bool{false, true} {
		name := "plain"
		if compressed {
			name = "deflate"
		}
		b.Run(name, func(b *testing.B) {
			c := bs.dial(b)
			c.b = b
			wire := new(atomic.Int64)
			if compressed {
				c.run("Z COMPRESS DEFLATE")
				w, _ := flate.NewWriter(c.conn, flate.BestSpeed)
				dc := &deflateConn{Conn: c.conn, r: flate.NewReader(countingReader{c.conn, wire}), w: w, raw: wire}
				c.conn, c.r = dc, bufio.NewReaderSize(dc, 1<<20)
			} else {
				c.r = bufio.NewReaderSize(countingReader{c.conn, wire}, 1<<20)
			}
			c.run("S SELECT INBOX")
			c.run("F FETCH 1:* (ENVELOPE BODYSTRUCTURE)") // warm
			wire.Store(0)
			b.ResetTimer()
			cpu0 := cpuTime(b)
			var size int64
			for i := 0; i < b.N; i++ {
				lines, n := c.run("F FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
				if lines < len(msgs) {
					b.Fatalf("%d responses", lines)
				}
				size += int64(n)
			}
			cpu := cpuTime(b) - cpu0
			b.StopTimer()
			mb := float64(size) / 1e6
			b.ReportMetric(float64(size)/float64(b.N), "resp-bytes")
			b.ReportMetric(float64(wire.Load())/float64(b.N), "wire-bytes")
			b.ReportMetric(float64(cpu.Milliseconds())/mb, "cpu-ms/MB")
		})
	}
}

// BenchmarkDeflateResponses compresses the bytes of that FETCH's response
// as the server does (16 KiB writes, one sync flush at the end) at three
// levels: the compressor's own CPU per MB and the ratio, behind the
// choice of deflateLevel.
func BenchmarkDeflateResponses(b *testing.B) {
	msgs := benchMboxMessages(b, 0)
	bs := newBenchServer(b)
	bs.fill(b, len(msgs), func(i int) string { return string(msgs[i]) })
	c := bs.dial(b)
	var transcript bytes.Buffer
	c.r = bufio.NewReaderSize(io.TeeReader(c.conn, &transcript), 1<<20)
	c.run("S SELECT INBOX")
	transcript.Reset()
	c.run("F FETCH 1:* (ENVELOPE BODYSTRUCTURE)")
	data := transcript.Bytes()
	for _, lv := range []struct {
		name  string
		level int
	}{{"level1", flate.BestSpeed}, {"level5", 5}, {"level6", flate.DefaultCompression}} {
		b.Run(lv.name, func(b *testing.B) {
			var out countWriter
			w, _ := flate.NewWriter(&out, lv.level)
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for p := data; len(p) > 0; {
					n := min(len(p), 16<<10)
					w.Write(p[:n])
					p = p[n:]
				}
				w.Flush()
			}
			b.ReportMetric(float64(len(data))*float64(b.N)/float64(out), "ratio")
		})
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }
