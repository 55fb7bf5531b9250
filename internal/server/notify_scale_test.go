package server

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Scale of NOTIFY, measured as TestIdleScale measures IDLE: N sessions
// with NOTIFY on (INBOX selected, MessageNew with UID FLAGS there; every
// other mailbox watched), in a client process of their own; one APPEND to
// INBOX and one to another mailbox; resident memory per connection, the
// time for each to reach every session, and the store queries each
// commit caused.

// notifyConnsEnv names how many connections TestNotifyScale opens (300 by
// default); notifyHelperEnv runs TestNotifyScaleClients as its client
// side, its value the server's address.
const (
	notifyConnsEnv  = "TIDEMARK_NOTIFY_CONNS"
	notifyHelperEnv = "TIDEMARK_NOTIFY_HELPER_ADDR"
)

// The shared NOTIFY state reads the mailbox list and subscriptions; count
// them with the other reads.
func (c *countingAccount) Mailboxes(ctx context.Context) ([]store.MailboxInfo, error) {
	c.n.Add(1)
	return c.Account.Mailboxes(ctx)
}

func (c *countingAccount) Subscriptions(ctx context.Context) ([]string, error) {
	c.n.Add(1)
	return c.Account.Subscriptions(ctx)
}

func TestNotifyScale(t *testing.T) {
	if os.Getenv(notifyHelperEnv) != "" {
		t.Skip("helper process")
	}
	n := 300
	if v := os.Getenv(notifyConnsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("%s: %v", notifyConnsEnv, err)
		}
	}
	raiseFileLimit(t, uint64(n+512))
	var cs *countingStore
	env := newTestEnv(t, func(c *Config) {
		cs = &countingStore{Store: c.Store}
		c.Store = cs
		c.MaxConnections = -1
	})
	mbxCreate(t, env.account(), "Other", "Archive", "Lists/One", "Lists/Two")
	env.appendMessages("INBOX", 10, store.Flags{})

	runtime.GC()
	before := residentKiB()
	child := exec.Command(os.Args[0], "-test.run=^TestNotifyScaleClients$", "-test.v", "-test.count=1")
	child.Env = append(os.Environ(), notifyHelperEnv+"="+env.addr, fmt.Sprintf("%s=%d", notifyConnsEnv, n))
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
	defer child.Process.Kill()
	out := bufio.NewScanner(stdout)
	out.Buffer(make([]byte, 64<<10), 1<<20*int(max(1, n/10000))*4)
	next := func(prefix string) string {
		t.Helper()
		for out.Scan() {
			if l := out.Text(); strings.HasPrefix(l, prefix) {
				return strings.TrimPrefix(l, prefix)
			}
		}
		t.Fatalf("client process ended before %q: %v", prefix, out.Err())
		return ""
	}
	next("READY")
	time.Sleep(200 * time.Millisecond) // let the last sessions settle
	runtime.GC()
	after := residentKiB()
	if got := env.srv.connCount(); got != n {
		t.Fatalf("server serves %d connections, want %d", got, n)
	}

	c := env.dial()
	c.login()
	for _, target := range []string{"INBOX", "Other"} {
		queries := cs.queries.Load()
		msg := "Subject: fan-out\r\n\r\nwake up\r\n"
		start := time.Now()
		c.send(fmt.Sprintf("a APPEND %s {%d+}\r\n%s", target, len(msg), msg))
		c.expect(`^a OK `)
		arrivals := strings.Fields(next("ARRIVED "))
		var lat []time.Duration
		for _, f := range arrivals {
			ns, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			lat = append(lat, time.Unix(0, ns).Sub(start))
		}
		if len(lat) != n {
			t.Fatalf("%s: %d of %d sessions heard of the new message", target, len(lat), n)
		}
		fanout := cs.queries.Load() - queries
		slices.Sort(lat)
		pct := func(p int) time.Duration { return lat[(len(lat)-1)*p/100].Round(time.Microsecond) }
		t.Logf("APPEND to %s reaching all %d NOTIFY sessions: p50 %v, p99 %v, max %v; %d store queries for the commit (APPEND's own included)",
			target, n, pct(50), pct(99), pct(100), fanout)
		if fanout > 8 {
			t.Errorf("one APPEND to %s cost %d store queries with %d NOTIFY sessions", target, fanout, n)
		}
	}
	perConn := float64(after-before) / float64(n)
	t.Logf("%d NOTIFY connections: server resident %d -> %d KiB, %.1f KiB per connection", n, before, after, perConn)
	stdin.Close()
	if err := child.Wait(); err != nil {
		t.Errorf("client process: %v", err)
	}
	waitConns(t, env.srv, 1)
}

// TestNotifyScaleClients is the client side of TestNotifyScale: N
// connections log in (every other one enabling IMAP4rev2), select INBOX,
// set NOTIFY, say READY; then for each of the two commits report when
// every connection heard of it ("ARRIVED t1 t2 ..."); then wait for
// standard input to close.
func TestNotifyScaleClients(t *testing.T) {
	addr := os.Getenv(notifyHelperEnv)
	if addr == "" {
		t.Skip("run by TestNotifyScale")
	}
	n, _ := strconv.Atoi(os.Getenv(notifyConnsEnv))
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
			cmds := "a LOGIN " + testUser + " " + testPass + "\r\n"
			if i%2 == 1 {
				cmds += "e ENABLE IMAP4rev2\r\n"
			}
			cmds += "s SELECT INBOX\r\nn NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge)) (personal (MessageNew MessageExpunge))\r\n"
			if _, err := conn.Write([]byte(cmds)); err != nil {
				errs <- err
				return
			}
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					errs <- fmt.Errorf("connection %d: %v", i, err)
					return
				}
				if strings.HasPrefix(l, "n OK") {
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

	for _, suffix := range []string{" EXISTS\r\n", "* STATUS Other "} {
		arrived := make([]int64, n)
		for i, r := range conns {
			wg.Go(func() {
				raw[i].SetReadDeadline(time.Now().Add(hangDeadline))
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						t.Errorf("connection %d: %v", i, err)
						return
					}
					if strings.HasSuffix(l, suffix) || strings.HasPrefix(l, suffix) {
						arrived[i] = time.Now().UnixNano()
						return
					}
				}
			})
		}
		wg.Wait()
		var b strings.Builder
		b.WriteString("ARRIVED")
		for _, a := range arrived {
			if a != 0 {
				fmt.Fprintf(&b, " %d", a)
			}
		}
		fmt.Println(b.String())
	}
	var buf [1]byte
	os.Stdin.Read(buf[:])
	for _, c := range raw {
		c.Close()
	}
}
