package replica

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Replication figures (docs/benchmarks.md). They run only with -bench:
//
//	go test -run '^$' -bench 'Replica' -benchtime 1x ./internal/replica
//
// TIDEMARK_REPLICA_BENCH_N sets the size of the initial sync (default
// 10,000 messages), TIDEMARK_REPLICA_BENCH_BATCH the messages per
// transaction on the receiver (Options.BatchMessages; default its
// default), TIDEMARK_REPLICA_BENCH_PROFILE a directory for CPU profiles
// of each phase of the initial sync (append-1.prof, sync-1.prof, ...).

func benchN() int { return benchEnv("TIDEMARK_REPLICA_BENCH_N", 10000) }

// benchEnv is the integer in the environment variable name, or def.
func benchEnv(name string, def int) int {
	if s := os.Getenv(name); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
	}
	return def
}

func benchBody(i int) string {
	return fmt.Sprintf("From: a%d@example.org\r\nTo: b@example.org\r\nSubject: message %d\r\nMessage-ID: <%d@bench>\r\n\r\n%s\r\n",
		i, i, i, strings.Repeat("body text of a typical message. ", 60))
}

// BenchmarkReplicaInitialSync: a user with N messages appended in
// batches of 100 (as tidemark import does, timed: the reference) and
// replicated to an empty server over the TLS transport (timed). Each
// round does both on fresh stores, one after the other, so that the two
// see the same load; TIDEMARK_REPLICA_BENCH_ROUNDS sets the rounds
// (default 1) and the figures are the medians over them.
func BenchmarkReplicaInitialSync(b *testing.B) {
	n := benchN()
	rounds := 1
	if s := os.Getenv("TIDEMARK_REPLICA_BENCH_ROUNDS"); s != "" {
		if r, err := strconv.Atoi(s); err == nil && r > 0 {
			rounds = r
		}
	}
	for range b.N {
		var appendRates, syncRates, ratios, wire, idle, appendCPU, syncCPU, cpuRatios []float64
		for round := range rounds {
			r := replicaInitialSync(b, n)
			ar, sr := r.appendRate, r.syncRate
			b.Logf("round %d: appended %.0f msgs/s, replicated %.0f msgs/s (%.2f×); CPU %.0f µs/msg appending, %.0f µs/msg replicating (%.2f×)",
				round+1, ar, sr, sr/ar, r.appendCPU, r.syncCPU, r.syncCPU/r.appendCPU)
			appendRates, syncRates, ratios = append(appendRates, ar), append(syncRates, sr), append(ratios, sr/ar)
			wire, idle = append(wire, r.wirePerMsg), append(idle, r.idleBytes)
			appendCPU, syncCPU = append(appendCPU, r.appendCPU), append(syncCPU, r.syncCPU)
			cpuRatios = append(cpuRatios, r.syncCPU/r.appendCPU)
		}
		b.ReportMetric(median(appendRates), "append_msgs/s")
		b.ReportMetric(median(syncRates), "sync_msgs/s")
		b.ReportMetric(median(ratios), "sync/append")
		b.ReportMetric(median(wire), "wire_bytes/msg")
		b.ReportMetric(median(idle), "idle_sync_bytes")
		b.ReportMetric(median(appendCPU), "append_cpu_µs/msg")
		b.ReportMetric(median(syncCPU), "sync_cpu_µs/msg")
		b.ReportMetric(median(cpuRatios), "cpu_sync/append")
	}
}

// cpuTime is the CPU time (user and system) the process has used: both
// replicas run in it, so a phase's share is what it cost whatever else
// the machine ran meanwhile, where its wall time is not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// initialSyncRound is one round of BenchmarkReplicaInitialSync.
type initialSyncRound struct {
	appendRate, syncRate float64 // messages/s
	wirePerMsg           float64 // bytes both ways per message
	idleBytes            float64 // bytes of an idle resync
	appendCPU, syncCPU   float64 // CPU µs per message, the whole process
}

// replicaInitialSync is one round of BenchmarkReplicaInitialSync.
func replicaInitialSync(b *testing.B, n int) initialSyncRound {
	a, c := newNode(b, "a"), newNode(b, "b")
	addr := serve(b, c, "0123456789abcdef")
	acct := a.acct("u")
	in, _ := acct.Mailbox(ctx, "INBOX")
	stopProfile := phaseProfile(b, "append")
	start, cpu := time.Now(), cpuTime()
	for i := 0; i < n; i += 100 {
		var msgs []store.NewMessage
		for j := i; j < min(i+100, n); j++ {
			msgs = append(msgs, store.NewMessage{Body: strings.NewReader(benchBody(j))})
		}
		if _, err := acct.Append(ctx, in.ID, msgs); err != nil {
			b.Fatal(err)
		}
	}
	importTime, importCPU := time.Since(start), cpuTime()-cpu
	stopProfile()
	cl := dial(b, a, addr, "0123456789abcdef")
	stopProfile = phaseProfile(b, "sync")
	start, cpu = time.Now(), cpuTime()
	st, err := Sync(ctx, a.side, cl, Options{BatchMessages: benchEnv("TIDEMARK_REPLICA_BENCH_BATCH", 0)})
	if err != nil {
		b.Fatal(err)
	}
	syncTime, syncCPU := time.Since(start), cpuTime()-cpu
	stopProfile()
	r, w := cl.Bytes()
	if st.Appends != n || st.Derived != n {
		b.Fatalf("stats %+v", st)
	}
	// An idle resync of the same user.
	if _, err := Sync(ctx, a.side, cl, Options{}); err != nil {
		b.Fatal(err)
	}
	r1, w1 := cl.Bytes()
	return initialSyncRound{
		appendRate: float64(n) / importTime.Seconds(), syncRate: float64(n) / syncTime.Seconds(),
		wirePerMsg: float64(r+w) / float64(n), idleBytes: float64(r1 - r + w1 - w),
		appendCPU: float64(importCPU.Microseconds()) / float64(n), syncCPU: float64(syncCPU.Microseconds()) / float64(n),
	}
}

// phaseProfile writes a CPU profile of one phase of a round to
// $TIDEMARK_REPLICA_BENCH_PROFILE/<phase>-<n>.prof when that is set (the
// whole-run -cpuprofile mixes the appends with the replication) and
// returns what stops it.
func phaseProfile(b *testing.B, phase string) (stop func()) {
	dir := os.Getenv("TIDEMARK_REPLICA_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	var f *os.File
	for i := 1; ; i++ {
		var err error
		f, err = os.OpenFile(fmt.Sprintf("%s/%s-%d.prof", dir, phase, i), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			break
		}
		if !os.IsExist(err) {
			b.Fatal(err)
		}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// BenchmarkReplicaLag: 10 clients append to A (one message each every
// 100 ms, light load); continuous push carries them to B. Reports the lag
// from the acknowledged append on A to the commit on B, p50 and p99.
func BenchmarkReplicaLag(b *testing.B) {
	const writers, each = 10, 20
	for range b.N {
		a, c := newNode(b, "a"), newNode(b, "b")
		addr := serve(b, c, "0123456789abcdef")
		p := &Pusher{Local: a.side, Addr: addr, Auth: Auth{Secret: []byte("0123456789abcdef"), TLS: &tls.Config{}}, FullEvery: time.Hour, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { p.Run(pctx); close(done) }()
		st := Notify(a.store, p.Changed)
		a.acct("u")
		p.Changed("u")
		// Wait for the user to exist on B.
		for {
			if us, _ := c.store.Users(ctx); len(us) == 1 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		cb, err := c.store.Open(ctx, "u")
		if err != nil {
			b.Fatal(err)
		}
		in, err := cb.Mailbox(ctx, "INBOX")
		if err != nil {
			b.Fatal(err)
		}
		// B's side: when the message count grows, through B's hub (no
		// polling): the k-th arrival is matched with the k-th
		// acknowledged append, since B applies A's commits in order.
		wt := c.store.Hub().Watch("u", in.ID)
		defer wt.Close()
		var mu sync.Mutex
		var sent []time.Time
		arrived := make([]time.Time, 0, writers*each)
		watchDone := make(chan struct{})
		go func() {
			defer close(watchDone)
			timeout := time.After(60 * time.Second)
			for len(arrived) < writers*each {
				select {
				case <-wt.C:
				case <-timeout:
					return
				}
				st, err := cb.Status(ctx, in.ID)
				if err != nil {
					continue
				}
				now := time.Now()
				for len(arrived) < int(st.Messages) {
					arrived = append(arrived, now)
				}
			}
		}()
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				acct, _ := st.Open(ctx, "u")
				defer acct.Close()
				ain, _ := acct.Mailbox(ctx, "INBOX")
				for k := range each {
					if _, err := acct.Append(ctx, ain.ID, []store.NewMessage{{Body: strings.NewReader(benchBody(w*each + k))}}); err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					sent = append(sent, time.Now())
					mu.Unlock()
					time.Sleep(100 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		<-watchDone
		if len(arrived) < writers*each {
			b.Fatalf("only %d of %d messages reached B", len(arrived), writers*each)
		}
		var lags []time.Duration
		for k := range arrived {
			lags = append(lags, max(0, arrived[k].Sub(sent[k])))
		}
		cb.Close()
		cancel()
		<-done
		slices.Sort(lags)
		b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "lag_p50_ms")
		b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1000, "lag_p99_ms")
	}
}

// BenchmarkReplicaLargeBody: one message of TIDEMARK_REPLICA_BENCH_MIB
// MiB (default 40) replicated over the TLS transport, both replicas in
// this process. Reports the peak of the Go heap during the sync above
// the heap before it (sampled every millisecond), in MiB: what the
// sender, the engine and the receiver held at once.
func BenchmarkReplicaLargeBody(b *testing.B) {
	mib := 40
	if s := os.Getenv("TIDEMARK_REPLICA_BENCH_MIB"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			mib = n
		}
	}
	for range b.N {
		a, c := newNode(b, "a"), newNode(b, "b")
		addr := serve(b, c, "0123456789abcdef")
		body := bigMessage(1, mib<<20)
		a.append("u", "INBOX", body, store.Flags{})
		cl := dial(b, a, addr, "0123456789abcdef")
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		var peak atomic.Uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for {
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak.Load() {
					peak.Store(m.HeapAlloc)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
		start := time.Now()
		st, err := Sync(ctx, a.side, cl, Options{})
		elapsed := time.Since(start)
		close(stop)
		<-sampled
		if err != nil || st.Bodies != 1 {
			b.Fatalf("%+v, %v", st, err)
		}
		b.ReportMetric(float64(mib), "body_MiB")
		b.ReportMetric(float64(peak.Load()-min(base, peak.Load()))/(1<<20), "peak_heap_MiB")
		b.ReportMetric(elapsed.Seconds(), "sync_s")
	}
}
