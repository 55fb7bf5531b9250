package sqlitestore

import (
	"bytes"
	"fmt"
	"github.com/tidemark-mail/tidemark/internal/corpus"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/loadtest"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Benchmarks; figures and commands are in docs/benchmarks.md. The
// 1,000,000-message cases take about a minute to set up and run only with
// TIDEMARK_BENCH_BIG=1.

var benchMbox = corpus.Path()

// loadMbox splits an mbox file into messages at "From " lines.
func loadMbox(b *testing.B) [][]byte {
	data, err := os.ReadFile(benchMbox)
	if err != nil {
		b.Skipf("no benchmark mbox: %v", err)
	}
	var msgs [][]byte
	for _, part := range bytes.Split(data, []byte("\nFrom ")) {
		if i := bytes.IndexByte(part, '\n'); i >= 0 {
			msgs = append(msgs, part[i+1:])
		}
	}
	return msgs
}

func benchAccount(b *testing.B) (*Store, *Account, store.MailboxInfo) {
	s, a := newAccount(b)
	return s, a, mustMailbox(b, a, "INBOX")
}

// bodyForms are the two ways a body is stored: inline (the default
// threshold) and in blob files (inline storage off), for side by side
// figures.
var bodyForms = []struct {
	name string
	opts Options
}{
	{"inline", Options{}},
	{"files", Options{InlineBodyMax: -1}},
}

func BenchmarkAppendSingle(b *testing.B) {
	msgs := loadMbox(b)
	for _, form := range bodyForms {
		b.Run(form.name, func(b *testing.B) {
			_, a := newAccountWith(b, form.opts)
			inbox := mustMailbox(b, a, "INBOX")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m := msgs[i%len(msgs)]
				if _, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: bytes.NewReader(m)}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendBatch100 appends batches of 100; "behind" writes the text
// index in the background (Options.TextIndexBehind): ns/msg is then the
// appends' own time, and total-ns/msg adds the indexer's catch-up after
// the last batch.
func BenchmarkAppendBatch100(b *testing.B) {
	msgs := loadMbox(b)
	forms := append(bodyForms[:len(bodyForms):len(bodyForms)], struct {
		name string
		opts Options
	}{"behind", Options{TextIndexBehind: true}})
	for _, form := range forms {
		b.Run(form.name, func(b *testing.B) {
			benchAppendBatches(b, form.opts, func(i int) []byte { return msgs[i%len(msgs)] })
		})
	}
	// Every message distinct, as `tidemark load --distinct` fills a
	// mailbox: no body is deduplicated against an earlier one.
	b.Run("distinct-behind", func(b *testing.B) {
		benchAppendBatches(b, Options{TextIndexBehind: true}, func(i int) []byte { return loadtest.DistinctCopy(msgs[i%len(msgs)], i) })
	})
}

// benchAppendBatches appends b.N batches of 100 messages, message i being
// msg(i).
func benchAppendBatches(b *testing.B, opts Options, msg func(i int) []byte) {
	_, a := newAccountWith(b, opts)
	inbox := mustMailbox(b, a, "INBOX")
	bodies := make([][]byte, 100*b.N)
	for i := range bodies {
		bodies[i] = msg(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for i := 0; i < b.N; i++ {
		batch := make([]store.NewMessage, 100)
		for j := range batch {
			batch[j].Body = bytes.NewReader(bodies[i*100+j])
		}
		if _, err := a.Append(ctx, inbox.ID, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/msg")
	// The process's CPU per message: on a shared machine a steadier
	// figure than the elapsed time.
	b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/float64(b.N*100), "cpu-ns/msg")
	if opts.TextIndexBehind {
		for {
			if _, pending, err := textPending(ctx, a.u.r); err != nil {
				b.Fatal(err)
			} else if !pending {
				break
			}
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "total-ns/msg")
	}
}

// BenchmarkAppendSize appends batches of 10 distinct messages of one size
// inline and as files: where inline stops paying is where
// DefaultInlineBodyMax belongs.
func BenchmarkAppendSize(b *testing.B) {
	for _, size := range []int{4 << 10, 32 << 10, 64 << 10, 128 << 10, 512 << 10} {
		for _, form := range []struct {
			name string
			opts Options
		}{
			{"inline", Options{InlineBodyMax: 1 << 30}},
			{"files", Options{InlineBodyMax: -1}},
		} {
			b.Run(fmt.Sprintf("%dKiB/%s", size>>10, form.name), func(b *testing.B) {
				_, a := newAccountWith(b, form.opts)
				inbox := mustMailbox(b, a, "INBOX")
				b.SetBytes(int64(10 * size))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					batch := make([]store.NewMessage, 10)
					for j := range batch {
						batch[j].Body = bytes.NewReader(messageOfSize(i*10+j, size))
					}
					if _, err := a.Append(ctx, inbox.ID, batch); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// fillMailbox inserts n messages straight into the schema, all sharing
// one contents row and blob, and fixes the mailbox row to match. Every
// message gets modseq 2, the mailbox HIGHESTMODSEQ 2.
func fillMailbox(b *testing.B, a *Account, id store.MailboxID, n int) {
	b.Helper()
	res, err := a.Append(ctx, id, []store.NewMessage{{Body: strings.NewReader(testMessage(0, ""))}})
	if err != nil {
		b.Fatal(err)
	}
	var content, size int64
	u := a.u
	if err := u.w.QueryRowContext(ctx, `SELECT content_id, size FROM messages WHERE mailbox_id = ? AND uid = ?`, id, res.UIDs[0]).Scan(&content, &size); err != nil {
		b.Fatal(err)
	}
	err = u.write(ctx, func(t *writeTx) error {
		ins, err := t.tx.PrepareContext(ctx, `INSERT INTO messages (mailbox_id, uid, savedate, size, content_id) VALUES (?, ?, 0, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		var es []entry
		for uid := 2; uid <= n; uid++ {
			if _, err := ins.ExecContext(ctx, id, uid, size, content); err != nil {
				return err
			}
			es = append(es, entry{uid: store.UID(uid), modseq: 2})
		}
		if err := t.appendEntries(id, es); err != nil {
			return err
		}
		_, err = t.tx.ExecContext(ctx, `UPDATE mailboxes SET uidnext = ?, messages = ?, unseen = ?, size = ? WHERE id = ?`,
			n+1, n, n, int64(n)*size, id)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}

func bigSizes(b *testing.B, sizes ...int) []int {
	if os.Getenv("TIDEMARK_BENCH_BIG") != "" {
		return sizes
	}
	var out []int
	for _, n := range sizes {
		if n <= 100_000 {
			out = append(out, n)
		}
	}
	return out
}

func BenchmarkSetFlags100k(b *testing.B) { benchSetFlags100k(b, false) }

// BenchmarkSetFlags100kReplicated: the same in a mailbox synced with a
// peer, where each change also stamps the flags it changes (flag_stamps).
func BenchmarkSetFlags100kReplicated(b *testing.B) { benchSetFlags100k(b, true) }

func benchSetFlags100k(b *testing.B, replicated bool) {
	s, a, inbox := benchAccount(b)
	fillMailbox(b, a, inbox.ID, 100_000)
	if replicated {
		r, err := s.OpenReplica(ctx, "alice")
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		if _, err := r.Apply(ctx, inbox.ID, store.Batch{KeepHistory: true}); err != nil {
			b.Fatal(err)
		}
	}
	all := store.UIDSet{{Start: 1, Stop: store.MaxUID}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		op := store.FlagsAdd
		if i%2 == 1 {
			op = store.FlagsRemove
		}
		res, err := a.SetFlags(ctx, inbox.ID, all, op, store.Flags{System: store.FlagSeen}, 0)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Changed) != 100_000 {
			b.Fatalf("changed %d", len(res.Changed))
		}
	}
	b.StopTimer()
	assertClean(b, s, "alice")
}

func BenchmarkSnapshot(b *testing.B) {
	for _, n := range bigSizes(b, 100_000, 1_000_000) {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			_, a, inbox := benchAccount(b)
			fillMailbox(b, a, inbox.ID, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				snap, err := a.Snapshot(ctx, inbox.ID)
				if err != nil || len(snap.Messages) != n {
					b.Fatalf("snapshot: %d messages, %v", len(snap.Messages), err)
				}
			}
		})
	}
}

// BenchmarkChangesSince100 asks for 100 changes (50 flag changes and 50
// expunges, each its own transaction) in mailboxes of different sizes; the
// cost must not follow the mailbox size.
func BenchmarkChangesSince100(b *testing.B) {
	for _, n := range bigSizes(b, 10_000, 1_000_000) {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			_, a, inbox := benchAccount(b)
			fillMailbox(b, a, inbox.ID, n)
			since := mustMailbox(b, a, "INBOX").HighestModSeq
			step := store.UID(n / 101)
			for i := 1; i <= 100; i++ {
				u := store.UIDSetOf(store.UID(i) * step)
				var err error
				if i%2 == 0 {
					_, err = a.SetFlags(ctx, inbox.ID, u, store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0)
				} else {
					_, err = a.Expunge(ctx, inbox.ID, u)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ch, err := a.ChangesSince(ctx, inbox.ID, since)
				if err != nil || len(ch.Changed) != 50 || ch.Vanished.Len() != 50 {
					b.Fatalf("changes: %d changed, %d vanished, %v", len(ch.Changed), ch.Vanished.Len(), err)
				}
			}
		})
	}
}

// BenchmarkCopyExpunge100k copies a 100,000-message mailbox into another
// and expunges the copies: the bulk paths that add and remove chunk
// entries and message rows.
func BenchmarkCopyExpunge100k(b *testing.B) {
	s, a, inbox := benchAccount(b)
	fillMailbox(b, a, inbox.ID, 100_000)
	dst, err := a.CreateMailbox(ctx, "copy", store.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	all := store.UIDSet{{Start: 1, Stop: store.MaxUID}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := a.Copy(ctx, inbox.ID, dst.ID, all)
		if err != nil || len(res.DstUIDs) != 100_000 {
			b.Fatalf("copy: %d, %v", len(res.DstUIDs), err)
		}
		ex, err := a.Expunge(ctx, dst.ID, all)
		if err != nil || len(ex.UIDs) != 100_000 {
			b.Fatalf("expunge: %d, %v", len(ex.UIDs), err)
		}
	}
	b.StopTimer()
	assertClean(b, s, "alice")
}

// BenchmarkSearchText asks the text index for a word in about half of the
// corpus messages and for one in none, on a mailbox of the corpus cycled
// to TIDEMARK_BENCH_TEXT_N messages (default 10,000; filling takes about
// 3 ms a message).
func BenchmarkSearchText(b *testing.B) {
	msgs := loadMbox(b)
	n := 10_000
	if v := os.Getenv("TIDEMARK_BENCH_TEXT_N"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil {
			b.Fatal(err)
		}
	}
	_, a, inbox := benchAccount(b)
	for i := 0; i < n; i += 500 {
		batch := make([]store.NewMessage, min(500, n-i))
		for j := range batch {
			batch[j].Body = bytes.NewReader(msgs[(i+j)%len(msgs)])
		}
		if _, err := a.Append(ctx, inbox.ID, batch); err != nil {
			b.Fatal(err)
		}
	}
	all := store.UIDSet{{Start: 1, Stop: store.MaxUID}}
	for _, q := range []struct {
		name   string
		field  store.TextField
		needle string
	}{
		{"body-common", store.TextBody, "benchmark"},
		{"body-none", store.TextBody, "xylograph"},
		{"text-common", store.TextText, "benchmark"},
		{"subject", store.TextSubject, "report"},
	} {
		b.Run(q.name, func(b *testing.B) {
			b.ReportAllocs()
			var hits int
			for b.Loop() {
				h, err := a.SearchText(ctx, inbox.ID, q.field, q.needle, all)
				if err != nil || !h.OK {
					b.Fatal(err, h.OK)
				}
				hits = int(h.Sure.Len())
			}
			b.ReportMetric(float64(hits), "hits")
		})
	}
}

// BenchmarkSearchTextStore searches an existing store, a copy of a data
// directory filled by tidemark load (TIDEMARK_BENCH_TEXT_DIR, its user
// TIDEMARK_BENCH_TEXT_USER, default bench, mailbox
// TIDEMARK_BENCH_TEXT_MAILBOX, default bench-100000), for profiling a
// search at sizes a benchmark cannot fill each time. Skipped without the
// directory.
func BenchmarkSearchTextStore(b *testing.B) {
	dir := os.Getenv("TIDEMARK_BENCH_TEXT_DIR")
	if dir == "" {
		b.Skip("TIDEMARK_BENCH_TEXT_DIR not set")
	}
	user, mailbox := envOr("TIDEMARK_BENCH_TEXT_USER", "bench"), envOr("TIDEMARK_BENCH_TEXT_MAILBOX", "bench-100000")
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	acc, err := s.Open(ctx, user)
	if err != nil {
		b.Fatal(err)
	}
	defer acc.Close()
	a := acc.(*Account)
	info, err := a.Mailbox(ctx, mailbox)
	if err != nil {
		b.Fatal(err)
	}
	all := store.UIDSet{{Start: 1, Stop: store.MaxUID}}
	for _, q := range []struct {
		name   string
		field  store.TextField
		needle string
	}{
		{"body-common", store.TextBody, "benchmark"},
		{"body-none", store.TextBody, "xylograph"},
		{"text-none", store.TextText, "xylograph"},
		{"from-none", store.TextFrom, "someone"},
		{"subject", store.TextSubject, "report"},
		{"body-common-newmap", store.TextBody, "benchmark"},
		{"text-common", store.TextText, "benchmark"},
	} {
		b.Run(q.name, func(b *testing.B) {
			var hits int
			// CPU time as well as wall time: on a shared machine the
			// process's CPU per search is the steadier figure.
			cpu0 := processCPU()
			for b.Loop() {
				if strings.HasSuffix(q.name, "-newmap") {
					// As after any change to the mailbox: the content
					// map (textmap.go) is read again.
					a.u.cmaps.Reset()
				}
				h, err := a.SearchText(ctx, info.ID, q.field, q.needle, all)
				if err != nil || !h.OK {
					b.Fatal(err, h.OK)
				}
				hits = int(h.Sure.Len())
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
			b.ReportMetric(float64(hits), "hits")
		})
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestTextMergeStore merges the text index of a store as the server's
// background merge does, step by step (TIDEMARK_BENCH_TEXT_DIR as for
// BenchmarkSearchTextStore; with TIDEMARK_BENCH_TEXT_OPTIMIZE=1 into one
// segment instead), and logs the segments and the time taken. Skipped
// without the directory.
func TestTextMergeStore(t *testing.T) {
	dir := os.Getenv("TIDEMARK_BENCH_TEXT_DIR")
	if dir == "" {
		t.Skip("TIDEMARK_BENCH_TEXT_DIR not set")
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	acc, err := s.Open(ctx, envOr("TIDEMARK_BENCH_TEXT_USER", "bench"))
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	a := acc.(*Account)
	t.Logf("segments before: %v", segments(t, a))
	start, cpu0 := time.Now(), processCPU()
	steps := 0
	if os.Getenv("TIDEMARK_BENCH_TEXT_OPTIMIZE") != "" {
		err := a.u.write(ctx, func(t *writeTx) error {
			for _, table := range textIndexTables {
				if _, err := t.tx.ExecContext(ctx, `INSERT INTO `+table+` (`+table+`) VALUES ('optimize')`); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	} else {
		for ; ; steps++ {
			worked, err := a.u.mergeTextStep(ctx, textMergePages)
			if err != nil {
				t.Fatal(err)
			}
			if !worked {
				break
			}
		}
	}
	t.Logf("segments after: %v, %d steps, %v, %v of CPU", segments(t, a), steps, time.Since(start), processCPU()-cpu0)
}
