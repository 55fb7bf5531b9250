package server

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Benchmarks of the write commands through a real socket, as a client
// sees them: from the command's first byte to its tagged response, with
// every response byte read. Figures are in docs/benchmarks.md.

// fillInboxByCopy puts n small messages in INBOX: 100 appended, then copied
// (COPY shares the bytes) until there are n.
func fillInboxByCopy(b *testing.B, bs *benchServer, n int) {
	b.Helper()
	ctx := context.Background()
	var msgs []store.NewMessage
	for i := 0; i < min(n, 100); i++ {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(testMessage(fmt.Sprint("bench ", i)))})
	}
	if _, err := bs.acct.Append(ctx, bs.mbox.ID, msgs); err != nil {
		b.Fatal(err)
	}
	for have := len(msgs); have < n; {
		k := min(have, n-have)
		if _, err := bs.acct.Copy(ctx, bs.mbox.ID, bs.mbox.ID, store.UIDSet{{Start: 1, Stop: store.UID(k)}}); err != nil {
			b.Fatal(err)
		}
		have += k
	}
}

// BenchmarkStore100k times STORE 1:* over 100,000 messages, alternating
// +FLAGS and -FLAGS so that every repetition changes every message.
func BenchmarkStore100k(b *testing.B) { benchStoreAll(b, 100_000, 0) }

// BenchmarkStore10k is the same over 10,000 messages, where the fixed
// costs of a STORE show.
func BenchmarkStore10k(b *testing.B) { benchStoreAll(b, 10_000, 0) }

// BenchmarkStore10kHoles is the same over 10,000 messages left of 12,000
// after expunging every sixth, as a mailbox in use has them: the UID set
// of 1:* is 2,000 ranges.
func BenchmarkStore10kHoles(b *testing.B) { benchStoreAll(b, 12_000, 6) }

// benchStoreAll fills INBOX with n messages, expunges every holeEvery-th
// (none when 0), and times STORE 1:*.
func benchStoreAll(b *testing.B, n, holeEvery int) {
	bs := newBenchServer(b)
	fillInboxByCopy(b, bs, n)
	if holeEvery > 0 {
		var gone store.UIDSet
		for u := holeEvery; u <= n; u += holeEvery {
			gone.Add(store.UID(u))
		}
		if _, err := bs.acct.Expunge(context.Background(), bs.mbox.ID, gone); err != nil {
			b.Fatal(err)
		}
	}
	for _, silent := range []string{"", ".SILENT"} {
		b.Run("FLAGS"+silent, func(b *testing.B) {
			c := bs.dialSelected(b)
			b.ReportAllocs()
			cpu := startCPU(b)
			b.ResetTimer()
			c.read = 0
			i := 0
			for b.Loop() {
				op := "+"
				if i%2 == 1 {
					op = "-"
				}
				c.run(fmt.Sprintf("t%d STORE 1:* %sFLAGS%s (\\Flagged)", i, op, silent))
				i++
			}
			cpu.report(b)
			b.ReportMetric(float64(c.read)/float64(i), "resp-bytes/op")
			c.run("z STORE 1:* -FLAGS.SILENT (\\Flagged)")
		})
	}
}

// BenchmarkAppend100 appends 100 corpus messages, one APPEND each or one
// MULTIAPPEND, with LITERAL+ (the client does not wait for continuations);
// cpu-µs/op is the process's CPU time (server and client), steadier than
// wall time on a shared machine.
func BenchmarkAppend100(b *testing.B) {
	msgs := benchMboxMessages(b, 100)
	bs := newBenchServer(b)
	b.Run("single", func(b *testing.B) {
		c := bs.dial(b)
		b.ReportAllocs()
		cpu := startCPU(b)
		for b.Loop() {
			for _, m := range msgs {
				c.send(fmt.Sprintf("a APPEND INBOX {%d+}\r\n%s\r\n", len(m), m))
			}
		}
		cpu.report(b)
	})
	b.Run("multi", func(b *testing.B) {
		c := bs.dial(b)
		var cmd bytes.Buffer
		cmd.WriteString("a APPEND INBOX")
		for _, m := range msgs {
			fmt.Fprintf(&cmd, " {%d+}\r\n%s", len(m), m)
		}
		cmd.WriteString("\r\n")
		b.ReportAllocs()
		cpu := startCPU(b)
		for b.Loop() {
			c.send(cmd.String())
		}
		cpu.report(b)
	})
}

// BenchmarkStoreOne is the load tool's `writers` with one session: each op
// is one UID STORE toggling \Flagged on one message of a 100-message
// INBOX, answered only once durable, the next sent after the answer. What
// it costs beyond the WAL's fdatasync is the commit's fixed cost.
func BenchmarkStoreOne(b *testing.B) {
	bs := newBenchServer(b)
	fillInboxByCopy(b, bs, 100)
	c := bs.dialSelected(b)
	c.b = b
	b.ReportAllocs()
	cpu := startCPU(b)
	i := 0
	for b.Loop() {
		op := "+"
		if i%2 == 1 {
			op = "-"
		}
		c.run(fmt.Sprintf("t%d UID STORE 7 %sFLAGS.SILENT (\\Flagged)", i, op))
		i++
	}
	cpu.report(b)
}
