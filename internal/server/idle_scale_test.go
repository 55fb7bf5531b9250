package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Scale of idle: many sessions logged in and in IDLE on one mailbox, one
// APPEND, and what it costs the server: resident memory per connection,
// the time for the new message to reach every session, and how many store
// queries the commit caused.

// idleConnsEnv names how many IDLE connections TestIdleScale opens (300 by
// default; 10000 on demand).
const idleConnsEnv = "TIDEMARK_IDLE_CONNS"

// idleHelperEnv runs TestIdleScaleClients as the client side of
// TestIdleScale, in a process of its own so that the server's resident
// memory is measured alone: its value is the server's address.
const idleHelperEnv = "TIDEMARK_IDLE_HELPER_ADDR"

// countingStore is the real store, with the account reads that a sync
// point may cause counted (the test's probe: every call goes to the store).
type countingStore struct {
	store.Store
	queries atomic.Int64
}

func (c *countingStore) Open(ctx context.Context, user string) (store.Account, error) {
	a, err := c.Store.Open(ctx, user)
	if err != nil {
		return nil, err
	}
	return &countingAccount{Account: a, n: &c.queries}, nil
}

type countingAccount struct {
	store.Account
	n *atomic.Int64
}

func (c *countingAccount) Status(ctx context.Context, id store.MailboxID) (store.MailboxStatus, error) {
	c.n.Add(1)
	return c.Account.Status(ctx, id)
}

func (c *countingAccount) Snapshot(ctx context.Context, id store.MailboxID) (store.Snapshot, error) {
	c.n.Add(1)
	return c.Account.Snapshot(ctx, id)
}

func (c *countingAccount) ChangesSince(ctx context.Context, id store.MailboxID, since store.ModSeq) (store.Changes, error) {
	c.n.Add(1)
	return c.Account.ChangesSince(ctx, id, since)
}

func (c *countingAccount) Messages(ctx context.Context, id store.MailboxID, uids store.UIDSet, fn func(*store.MessageData) error) error {
	c.n.Add(1)
	return c.Account.Messages(ctx, id, uids, fn)
}

func (c *countingAccount) Mailbox(ctx context.Context, name string) (store.MailboxInfo, error) {
	c.n.Add(1)
	return c.Account.Mailbox(ctx, name)
}

func (c *countingAccount) ClaimRecent(ctx context.Context, id store.MailboxID, upTo store.UID) (store.UID, error) {
	c.n.Add(1)
	return c.Account.(store.RecentStore).ClaimRecent(ctx, id, upTo)
}

func (c *countingAccount) RecentCount(ctx context.Context, id store.MailboxID) (uint32, error) {
	c.n.Add(1)
	return c.Account.(store.RecentStore).RecentCount(ctx, id)
}

func (c *countingAccount) Revoked() bool { return store.IsRevoked(c.Account) }

// residentKiB is this process's resident memory (VmRSS), or -1.
func residentKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return -1
}

// TestIdleScale: N sessions (half IMAP4rev1, half IMAP4rev2) in IDLE on
// one INBOX, in a client process of their own; one APPEND from another
// connection must reach every one of them, and cost the store a handful
// of queries whatever N is: the sessions share the refresh of the open
// mailbox and the \Recent claim (openbox). The memory per connection and
// the fan-out times are logged (figures in docs/benchmarks.md).
func TestIdleScale(t *testing.T) {
	sc := startScale(t, idleConnsEnv, idleHelperEnv, "TestIdleScaleClients", nil)
	env, cs, n := sc.env, sc.cs, sc.n

	// One APPEND, from a connection of its own.
	c := env.dial()
	c.login()
	queries := cs.queries.Load()
	msg := "Subject: fan-out\r\n\r\nwake up\r\n"
	start := time.Now()
	c.send(fmt.Sprintf("a APPEND INBOX {%d+}\r\n%s", len(msg), msg))
	c.expect(`^a OK `)
	lat := sc.arrivals(t, start)
	if len(lat) != n {
		t.Fatalf("%d of %d sessions saw the new message", len(lat), n)
	}
	fanout := cs.queries.Load() - queries
	pct := func(p int) time.Duration { return lat[(len(lat)-1)*p/100].Round(time.Microsecond) }
	perConn := float64(sc.after-sc.before) / float64(n)
	t.Logf("%d IDLE connections: server resident %d -> %d KiB, %.1f KiB per connection", n, sc.before, sc.after, perConn)
	t.Logf("APPEND to all %d sessions: p50 %v, p99 %v, max %v; %d store queries for the commit (APPEND's own included)", n, pct(50), pct(99), pct(100), fanout)
	// The APPEND's own work (looking the mailbox up, its own sync) is a
	// few queries; one per session would be n.
	if fanout > 8 {
		t.Errorf("one APPEND cost %d store queries with %d sessions in IDLE", fanout, n)
	}
	sc.finish(t)
}

// scaleRun is a scale test under way: the server (its store's reads
// counted), and the client process holding n connections to it, which
// said READY. before and after are the server's resident memory without
// and with those connections. TestIdleScale and TestNotifyScale share it.
type scaleRun struct {
	env           *testEnv
	cs            *countingStore
	n             int
	before, after int64
	child         *exec.Cmd
	stdin         io.WriteCloser
	next          func(prefix string) string // the client's next line with prefix, less the prefix
}

// startScale starts a server with no connection limit (setup, if not nil,
// fills the account; INBOX then gets 10 messages) and runs clientTest in a
// process of its own with helperEnv set to the server's address and
// connsEnv to n (connsEnv's value here, 300 by default), until it says
// READY. It skips in that process itself.
func startScale(t *testing.T, connsEnv, helperEnv, clientTest string, setup func(*testEnv)) *scaleRun {
	t.Helper()
	if os.Getenv(helperEnv) != "" {
		t.Skip("helper process")
	}
	sc := &scaleRun{n: 300}
	if v := os.Getenv(connsEnv); v != "" {
		var err error
		if sc.n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("%s: %v", connsEnv, err)
		}
	}
	n := sc.n
	raiseFileLimit(t, uint64(n+512))
	sc.env = newTestEnv(t, func(c *Config) {
		sc.cs = &countingStore{Store: c.Store}
		c.Store = sc.cs
		c.MaxConnections = -1
	})
	if setup != nil {
		setup(sc.env)
	}
	sc.env.appendMessages("INBOX", 10, store.Flags{})

	runtime.GC()
	sc.before = residentKiB()
	child := exec.Command(os.Args[0], "-test.run=^"+clientTest+"$", "-test.v", "-test.count=1")
	child.Env = append(os.Environ(), helperEnv+"="+sc.env.addr, fmt.Sprintf("%s=%d", connsEnv, n))
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill() })
	sc.child, sc.stdin = child, stdin
	out := bufio.NewScanner(stdout)
	out.Buffer(make([]byte, 64<<10), 1<<20*int(max(1, n/10000))*4) // ARRIVED: ~20 bytes a connection
	sc.next = func(prefix string) string {
		t.Helper()
		for out.Scan() {
			if l := out.Text(); strings.HasPrefix(l, prefix) {
				return strings.TrimPrefix(l, prefix)
			}
		}
		t.Fatalf("client process ended before %q: %v", prefix, out.Err())
		return ""
	}
	sc.next("READY")
	time.Sleep(200 * time.Millisecond) // let the last sessions settle
	runtime.GC()
	sc.after = residentKiB()
	if got := sc.env.srv.connCount(); got != n {
		t.Fatalf("server serves %d connections, want %d", got, n)
	}
	return sc
}

// arrivals reads the client's next ARRIVED line and returns how long after
// start each connection heard of the commit, shortest first.
func (sc *scaleRun) arrivals(t *testing.T, start time.Time) []time.Duration {
	t.Helper()
	var lat []time.Duration
	for _, f := range strings.Fields(sc.next("ARRIVED ")) {
		ns, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Unix(0, ns).Sub(start))
	}
	slices.Sort(lat)
	return lat
}

// finish ends the client process and waits for the server to serve only
// the test's own connection.
func (sc *scaleRun) finish(t *testing.T) {
	t.Helper()
	sc.stdin.Close() // the clients end
	if err := sc.child.Wait(); err != nil {
		t.Errorf("client process: %v", err)
	}
	waitConns(t, sc.env.srv, 1)
}

// TestIdleScaleClients is the client side of TestIdleScale, run in a
// process of its own: it opens N connections, logs in, selects INBOX,
// enables IMAP4rev2 on every other one, enters IDLE, says READY, then
// reports when each connection saw the new message (Unix nanoseconds,
// "ARRIVED t1 t2 ...") and waits for its standard input to close.
func TestIdleScaleClients(t *testing.T) {
	addr := os.Getenv(idleHelperEnv)
	if addr == "" {
		t.Skip("run by TestIdleScale")
	}
	n, _ := strconv.Atoi(os.Getenv(idleConnsEnv))
	conns, raw := scaleClients(t, addr, n, "s SELECT INBOX\r\ni IDLE\r\n", "+ ")
	reportArrivals(t, conns, raw, func(l string) bool { return strings.HasSuffix(l, " EXISTS\r\n") })
	closeOnStdin(raw)
}

// scaleClients opens n connections to addr (32 dialing at a time), each
// logging in, enabling IMAP4rev2 if it is an odd one, and sending cmds,
// then reading until a line that starts with ready. Any NO, BAD or BYE
// fails the test. It prints READY when all are.
func scaleClients(t *testing.T, addr string, n int, cmds, ready string) ([]*bufio.Reader, []net.Conn) {
	raiseFileLimit(t, uint64(n+512))
	conns := make([]*bufio.Reader, n)
	raw := make([]net.Conn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			r := bufio.NewReaderSize(conn, 512)
			conn.SetDeadline(time.Now().Add(hangDeadline))
			login := "a LOGIN " + testUser + " " + testPass + "\r\n"
			if i%2 == 1 {
				login += "e ENABLE IMAP4rev2\r\n"
			}
			if _, err := conn.Write([]byte(login + cmds)); err != nil {
				errs <- err
				return
			}
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					errs <- fmt.Errorf("connection %d: %v", i, err)
					return
				}
				if strings.HasPrefix(l, ready) {
					break
				}
				if strings.Contains(l, " NO ") || strings.Contains(l, " BAD ") || strings.HasPrefix(l, "* BYE") {
					errs <- fmt.Errorf("connection %d: %q", i, l)
					return
				}
			}
			conn.SetDeadline(time.Time{})
			conns[i], raw[i] = r, conn
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fmt.Println("READY")
	return conns, raw
}

// reportArrivals waits for every connection to read a line that arrived
// says is the news, and prints when each did (Unix nanoseconds, "ARRIVED
// t1 t2 ...", leaving out those that never did).
func reportArrivals(t *testing.T, conns []*bufio.Reader, raw []net.Conn, arrived func(line string) bool) {
	var wg sync.WaitGroup
	at := make([]int64, len(conns))
	for i, r := range conns {
		wg.Go(func() {
			raw[i].SetReadDeadline(time.Now().Add(hangDeadline))
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					t.Errorf("connection %d: %v", i, err)
					return
				}
				if arrived(l) {
					at[i] = time.Now().UnixNano()
					return
				}
			}
		})
	}
	wg.Wait()
	var b strings.Builder
	b.WriteString("ARRIVED")
	for _, a := range at {
		if a != 0 {
			fmt.Fprintf(&b, " %d", a)
		}
	}
	fmt.Println(b.String())
}

// closeOnStdin waits for standard input to close (the test ends the
// clients so) and closes the connections.
func closeOnStdin(raw []net.Conn) {
	var buf [1]byte
	os.Stdin.Read(buf[:])
	for _, c := range raw {
		c.Close()
	}
}
