package pgstore

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// roundTrips counts the statements and batches sent to the server: one
// round trip each (BEGIN and COMMIT included).
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// report adds round trips per operation to the benchmark's figures,
// counted from the last ResetTimer.
func (r *roundTrips) report(b *testing.B, from int64) {
	b.ReportMetric(float64(r.n.Load()-from)/float64(b.N), "roundtrips/op")
}

// benchAccount returns alice's INBOX holding n small messages, and the
// round-trip counter of its store.
func benchAccount(b *testing.B, n int) (store.Account, store.MailboxInfo) {
	a, inbox, _ := benchAccountTraced(b, n)
	return a, inbox
}

func benchAccountTraced(b *testing.B, n int) (store.Account, store.MailboxInfo, *roundTrips) {
	b.Helper()
	rt := &roundTrips{}
	s := openTest(b, pgtest.DSN(b), Options{NoListen: true, tracer: rt})
	if err := s.CreateUser(ctx, "alice"); err != nil {
		b.Fatal(err)
	}
	a, err := s.Open(ctx, "alice")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	inbox, _ := a.Mailbox(ctx, "INBOX")
	for i := 0; i < n; i += 1000 {
		var msgs []store.NewMessage
		for j := i; j < min(n, i+1000); j++ {
			msgs = append(msgs, store.NewMessage{Body: strings.NewReader(fmt.Sprintf("Subject: %d\r\nMessage-ID: <%d@b>\r\n\r\nbody %d\r\n", j, j, j))})
		}
		if _, err := a.Append(ctx, inbox.ID, msgs); err != nil {
			b.Fatal(err)
		}
	}
	return a, inbox, rt
}

// BenchmarkSetFlags10k: STORE 1:* +FLAGS / -FLAGS over 10,000 messages,
// one transaction each.
func BenchmarkSetFlags10k(b *testing.B) { benchSetFlags(b, 10000) }

// BenchmarkSetFlags100k: the same over 100,000 messages.
func BenchmarkSetFlags100k(b *testing.B) { benchSetFlags(b, 100000) }

// BenchmarkSetFlags100kReplicated: the same in a mailbox synced with a
// peer, where each change also records the flags it replaces (flag
// history, on the first change after the sync) and stamps the flags it
// changes (flag_stamps).
func BenchmarkSetFlags100kReplicated(b *testing.B) { benchSetFlagsIn(b, 100000, true) }

func benchSetFlags(b *testing.B, n int) { benchSetFlagsIn(b, n, false) }

func benchSetFlagsIn(b *testing.B, n int, replicated bool) {
	a, inbox, rt := benchAccountTraced(b, n)
	if replicated {
		r, err := a.(*Account).s.OpenReplica(ctx, "alice")
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
	defer rt.report(b, rt.n.Load())
	for i := 0; i < b.N; i++ {
		op := store.FlagsAdd
		if i%2 == 1 {
			op = store.FlagsRemove
		}
		if _, err := a.SetFlags(ctx, inbox.ID, all, op, store.Flags{System: store.FlagFlagged}, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend100: one Append of 100 small messages.
func BenchmarkAppend100(b *testing.B) {
	a, inbox, rt := benchAccountTraced(b, 0)
	b.ReportAllocs()
	b.ResetTimer()
	defer rt.report(b, rt.n.Load())
	for i := 0; i < b.N; i++ {
		var msgs []store.NewMessage
		for j := 0; j < 100; j++ {
			msgs = append(msgs, store.NewMessage{Body: strings.NewReader(fmt.Sprintf("Subject: %d-%d\r\n\r\nbody\r\n", i, j))})
		}
		if _, err := a.Append(ctx, inbox.ID, msgs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChangesSince10k: what changed after one flag change, in a
// mailbox of 10,000 messages whose flags all changed before it: an index
// range scan.
func BenchmarkChangesSince10k(b *testing.B) { benchChangesSince(b, 10000) }

// BenchmarkChangesSince100k: the same in 100,000 messages.
func BenchmarkChangesSince100k(b *testing.B) { benchChangesSince(b, 100000) }

func benchChangesSince(b *testing.B, n int) {
	a, inbox := benchAccount(b, n)
	all := store.UIDSet{{Start: 1, Stop: store.MaxUID}}
	if _, err := a.SetFlags(ctx, inbox.ID, all, store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0); err != nil {
		b.Fatal(err)
	}
	r, err := a.SetFlags(ctx, inbox.ID, store.UIDSetOf(store.UID(n/2)), store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0)
	if err != nil {
		b.Fatal(err)
	}
	// With statistics, as autovacuum gives a real database, the planner
	// knows how few messages are above a recent modseq.
	if _, err := a.(*Account).s.pool.Exec(ctx, `ANALYZE messages`); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ch, err := a.ChangesSince(ctx, inbox.ID, r.ModSeq-1)
		if err != nil || len(ch.Changed) != 1 {
			b.Fatalf("%+v %v", ch, err)
		}
	}
}

// BenchmarkAppend1: one Append of one small message, as a client's APPEND
// or an LMTP delivery: the cost is round trips and the commit.
func BenchmarkAppend1(b *testing.B) {
	a, inbox, rt := benchAccountTraced(b, 0)
	b.ReportAllocs()
	b.ResetTimer()
	defer rt.report(b, rt.n.Load())
	for i := 0; i < b.N; i++ {
		msg := fmt.Sprintf("Subject: %d\r\nMessage-ID: <%d@b>\r\n\r\nbody\r\n", i, i)
		if _, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader(msg)}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetFlagsIndexedModseq: STORE 1:* over 10,000 messages in two
// stores at once, alternating, so that both see the same machine: one as
// schema version 11 leaves it, one with the version 10 layout put back
// (the index on (mailbox_id, modseq), full pages), which makes every row
// rewrite touch the indexes. Reported as ms-heaponly and ms-indexed per
// STORE.
func BenchmarkSetFlagsIndexedModseq(b *testing.B) {
	heap, heapBox := benchAccount(b, 10000)
	indexed, indexedBox := benchAccount(b, 10000)
	pool := indexed.(*Account).s.pool
	for _, q := range []string{`CREATE INDEX messages_modseq ON messages (mailbox_id, modseq)`,
		`ALTER TABLE messages SET (fillfactor = 100)`, `VACUUM FULL messages`} {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	all := store.UIDSet{{Start: 1, Stop: store.MaxUID}}
	var took [2]time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		op := store.FlagsAdd
		if i%2 == 1 {
			op = store.FlagsRemove
		}
		for k, a := range []store.Account{heap, indexed} {
			box := []store.MailboxID{heapBox.ID, indexedBox.ID}[k]
			t0 := time.Now()
			if _, err := a.SetFlags(ctx, box, all, op, store.Flags{System: store.FlagFlagged}, 0); err != nil {
				b.Fatal(err)
			}
			took[k] += time.Since(t0)
		}
	}
	b.ReportMetric(float64(took[0].Milliseconds())/float64(b.N), "ms-heaponly")
	b.ReportMetric(float64(took[1].Milliseconds())/float64(b.N), "ms-indexed")
}

// BenchmarkSetFlagsRanges10k: STORE 1:* +FLAGS / -FLAGS (\Flagged) over
// 10,000 messages, alternating in one loop between two stores on one
// database: one making the change as one UPDATE over the UID ranges
// (setSystemFlags), one through the general path (the messages' states
// read, then an UPDATE per resulting flag set). Both see the same machine
// at the same moment; reported as ms-ranges and ms-rows per STORE.
func BenchmarkSetFlagsRanges10k(b *testing.B) { benchSetFlagsRanges(b, 10000) }

// BenchmarkSetFlagsRanges100k: the same over 100,000 messages.
func BenchmarkSetFlagsRanges100k(b *testing.B) { benchSetFlagsRanges(b, 100000) }

func benchSetFlagsRanges(b *testing.B, n int) {
	a, inbox := benchAccount(b, n)
	dsnsMu.Lock()
	dsn := dsns[a.(*Account).s]
	dsnsMu.Unlock()
	rows := openTest(b, dsn, Options{NoListen: true, rowFlags: true})
	r, err := rows.Open(ctx, "alice")
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	all := store.UIDSet{{Start: 1, Stop: store.MaxUID}}
	var took [2]time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k, acct := range []store.Account{a, r} {
			op := store.FlagsAdd
			if k == 1 {
				op = store.FlagsRemove
			}
			t0 := time.Now()
			res, err := acct.SetFlags(ctx, inbox.ID, all, op, store.Flags{System: store.FlagFlagged}, 0)
			if err != nil || len(res.Changed) != n {
				b.Fatalf("%d changed, %v", len(res.Changed), err)
			}
			took[k] += time.Since(t0)
		}
	}
	b.ReportMetric(float64(took[0].Milliseconds())/float64(b.N), "ms-ranges")
	b.ReportMetric(float64(took[1].Milliseconds())/float64(b.N), "ms-rows")
}
