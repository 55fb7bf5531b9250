package server

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Benchmarks of resynchronization (docs/benchmarks.md, "Resync
// (CONDSTORE/QRESYNC)"): a mailbox of N messages, a client that knows it up
// to modseq M, 100 changes since (40 flag changes, 30 expunges, 30
// arrivals), and the time and response bytes of
//
//   - SELECT INBOX (QRESYNC (uidvalidity M)), and
//   - the CONDSTORE-only way: SELECT INBOX (CONDSTORE), UID FETCH 1:*
//     (FLAGS) (CHANGEDSINCE M) and UID SEARCH RETURN (ALL) ALL (ESEARCH,
//     so the full UID list comes as ranges) to find expunges.
//
// "warm" keeps another session in IDLE on the mailbox, as a server with
// IDLE clients has: the shared in-memory mailbox stays loaded and is
// brought up to date as the changes commit (the benchmark waits for that
// outside the timed part). "cold" has no other session, so SELECT loads the
// mailbox from the store. N is 10,000, and also
// 1,000,000 with TIDEMARK_BENCH_LARGE=1 (populating takes a few minutes).
//
//	go test ./internal/server -run '^$' -bench BenchmarkResync -benchtime 20x
//	TIDEMARK_BENCH_LARGE=1 go test ./internal/server -run '^$' -bench BenchmarkResync -benchtime 20x -timeout 1h

type resyncBench struct {
	*benchServer
	rng *rand.Rand
}

// newResyncBench starts a server with n messages in INBOX. They have the
// same body, so the content-addressed blob store holds one file: resync
// never reads bodies, and a million blob files would only measure the
// file system.
func newResyncBench(b *testing.B, n int) *resyncBench {
	b.Helper()
	rb := &resyncBench{benchServer: newBenchServer(b), rng: rand.New(rand.NewPCG(1, 2))}
	const body = "From: a@example.org\r\nSubject: message\r\n\r\nbody\r\n"
	rb.fill(b, n, func(int) string { return body })
	var err error
	if rb.mbox, err = rb.acct.Mailbox(context.Background(), "INBOX"); err != nil {
		b.Fatal(err)
	}
	return rb
}

// change makes the 100 changes, as separate commits as clients make them.
func (rb *resyncBench) change(b *testing.B) {
	ctx := context.Background()
	mb, err := rb.acct.Mailbox(ctx, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	pick := func() store.UID { return store.UID(1 + rb.rng.IntN(int(mb.UIDNext-1))) }
	for i := 0; i < 40; i++ {
		if _, err := rb.acct.SetFlags(ctx, mb.ID, store.UIDSetOf(pick()), store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 30; i++ {
		if _, err := rb.acct.Expunge(ctx, mb.ID, store.UIDSetOf(pick())); err != nil {
			b.Fatal(err)
		}
	}
	var msgs []store.NewMessage
	for i := 0; i < 30; i++ {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(fmt.Sprintf("Subject: new %d\r\n\r\nx\r\n", rb.rng.Int()))})
	}
	if _, err := rb.acct.Append(ctx, mb.ID, msgs); err != nil {
		b.Fatal(err)
	}
}

func (rb *resyncBench) highest(b *testing.B) store.ModSeq {
	mb, err := rb.acct.Mailbox(context.Background(), "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	return mb.HighestModSeq
}

func responseBytes(lines []string) int {
	n := 0
	for _, l := range lines {
		n += len(l) + 2
	}
	return n
}

func BenchmarkResync(b *testing.B) {
	sizes := []int{10_000}
	if os.Getenv("TIDEMARK_BENCH_LARGE") == "1" {
		sizes = append(sizes, 1_000_000)
	}
	for _, n := range sizes {
		rb := newResyncBench(b, n)
		for _, warm := range []bool{true, false} {
			name := "cold"
			if warm {
				name = "warm"
			}
			b.Run(fmt.Sprintf("n=%d/%s/qresync", n, name), func(b *testing.B) { rb.run(b, warm, true) })
			b.Run(fmt.Sprintf("n=%d/%s/condstore", n, name), func(b *testing.B) { rb.run(b, warm, false) })
		}
	}
}

func (rb *resyncBench) run(b *testing.B, warm, qresync bool) {
	if warm {
		anchor, err := dialRaw(rb.addr)
		if err != nil {
			b.Fatal(err)
		}
		defer anchor.close()
		if _, err := anchor.cmd("SELECT INBOX"); err != nil {
			b.Fatal(err)
		}
		if _, err := io.WriteString(anchor.conn, "idle IDLE\r\n"); err != nil {
			b.Fatal(err)
		}
		go io.Copy(io.Discard, anchor.r) // what IDLE reports is not looked at
	}
	var bytes, fetches int
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		m := rb.highest(b)
		rb.change(b)
		if warm {
			// Wait until the open mailbox has caught up, as the IDLE
			// session makes it do while the changes commit.
			box, err := rb.srv.boxes.Acquire(context.Background(), testUser, rb.mbox.ID)
			if err != nil {
				b.Fatal(err)
			}
			box.Release()
		}
		c, err := dialRaw(rb.addr)
		if err != nil {
			b.Fatal(err)
		}
		if qresync {
			if _, err := c.cmd("ENABLE QRESYNC"); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		var lines []string
		if qresync {
			lines, err = c.cmd(fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", rb.mbox.UIDValidity, m))
		} else {
			var more []string
			if lines, err = c.cmd("SELECT INBOX (CONDSTORE)"); err == nil {
				if more, err = c.cmd(fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", m)); err == nil {
					lines = append(lines, more...)
					more, err = c.cmd("UID SEARCH RETURN (ALL) ALL")
					lines = append(lines, more...)
				}
			}
		}
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		bytes += responseBytes(lines)
		for _, l := range lines {
			if strings.Contains(l, " FETCH (") {
				fetches++
			}
		}
		c.close()
		b.StartTimer()
	}
	b.ReportMetric(float64(bytes)/float64(b.N), "resp-bytes/op")
	b.ReportMetric(float64(fetches)/float64(b.N), "fetches/op")
}
