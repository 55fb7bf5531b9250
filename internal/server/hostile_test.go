package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Hostile and broken clients: each test has one client misbehave and
// checks that a limit answers it, that the server's memory stays bounded
// and that a well-behaved client next to it is served as usual.

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// waitConns waits until the server serves n connections or fewer.
func waitConns(t *testing.T, srv *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(hangDeadline)
	for srv.connCount() > n {
		if time.Now().After(deadline) {
			t.Fatalf("server still serves %d connections, want %d", srv.connCount(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wellBehaved checks, with the go-imap client, that a normal client is
// served while something hostile goes on.
func wellBehaved(t *testing.T, env *testEnv) {
	t.Helper()
	cl := dialImapClient(t, env)
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestHostileNeverReads: a client asks for every body of a big mailbox
// and never reads. What the server holds for it is its write buffer and
// the message being sent, not the answer (26 MB here); the write times out,
// the connection is closed and its memory returns, and another client is
// served meanwhile.
func TestHostileNeverReads(t *testing.T) {
	logs := &syncBuffer{}
	env := newTestEnv(t, func(c *Config) {
		c.WriteTimeout = 2 * time.Second
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	a := env.account()
	mb, err := a.Mailbox(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 1<<16) // 1.1 MB
	for range 4 {
		var msgs []store.NewMessage
		for range 6 {
			msgs = append(msgs, store.NewMessage{Body: strings.NewReader(big)})
		}
		if _, err := a.Append(context.Background(), mb.ID, msgs); err != nil {
			t.Fatal(err)
		}
	}
	before := heapInUse()
	conn, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "a LOGIN %s %s\r\nb SELECT INBOX\r\nc FETCH 1:* BODY.PEEK[]\r\n", testUser, testPass)

	// While it is stuck, another client is served.
	time.Sleep(300 * time.Millisecond)
	wellBehaved(t, env)
	during := int64(heapInUse()) - int64(before)
	t.Logf("heap while the client does not read: %+d KiB", during>>10)
	if during > 8<<20 {
		t.Errorf("heap grew by %d bytes for a client that does not read", during)
	}
	waitConns(t, env.srv, 0)
	// Closed, it holds nothing more (the open mailbox kept in memory for a
	// returning client is a few hundred bytes here).
	if !strings.Contains(logs.String(), "write timeout; connection closed") {
		t.Errorf("the write timeout was not logged as such:\n%s", logs)
	}
	after := int64(heapInUse()) - int64(before)
	t.Logf("heap after the connection closed: %+d KiB", after>>10)
	if after > 1<<20 {
		t.Errorf("heap still %d bytes above the start after the connection closed", after)
	}
}

// trickle writes data one byte every interval until the write fails or
// stop is closed; it reports how many bytes it wrote.
func trickle(conn net.Conn, data string, interval time.Duration, stop <-chan struct{}) int {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return i
		case <-time.After(interval):
		}
		if _, err := conn.Write([]byte{data[i%len(data)]}); err != nil {
			return i
		}
	}
}

// readAll reads what the server sends until it closes the connection.
func readAll(t *testing.T, conn net.Conn) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(hangDeadline))
	b, err := io.ReadAll(conn)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read: %v (got %q)", err, b)
	}
	return string(b)
}

// TestHostileSlowloris: a client sending its command one byte at a time
// has the whole command to send within the login timeout (before login)
// or the idle timeout (after): the deadline is set when the server starts
// waiting for a command and is not moved by each byte. The command is
// never run, and another client is served meanwhile.
func TestHostileSlowloris(t *testing.T) {
	env := newTestEnv(t, func(c *Config) {
		c.LoginTimeout = 500 * time.Millisecond
		c.IdleTimeout = 700 * time.Millisecond
	})
	for _, loggedIn := range []bool{false, true} {
		conn, err := net.Dial("tcp", env.addr)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(conn)
		conn.SetReadDeadline(time.Now().Add(hangDeadline))
		r.ReadString('\n')
		if loggedIn {
			fmt.Fprintf(conn, "L LOGIN %s %s\r\n", testUser, testPass)
			if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "L OK ") {
				t.Fatalf("login: %q", l)
			}
		}
		stop := make(chan struct{})
		sent := make(chan int, 1)
		// An endless command: "a NOOPNOOPNOOP..." that never ends its line.
		go func() { sent <- trickle(conn, "a NOOP", 50*time.Millisecond, stop) }()
		wellBehaved(t, env)
		conn.SetReadDeadline(time.Now().Add(hangDeadline))
		restB, _ := io.ReadAll(r)
		rest := string(restB)
		close(stop)
		n := <-sent
		conn.Close()
		if strings.Contains(rest, "a OK") || strings.Contains(rest, "a BAD") {
			t.Errorf("logged in %v: the trickled command was answered: %q", loggedIn, rest)
		}
		if !strings.Contains(rest, "BYE Autologout") {
			t.Errorf("logged in %v: closed without BYE after %d bytes: %q", loggedIn, n, rest)
		}
		t.Logf("logged in %v: closed after %d bytes trickled", loggedIn, n)
	}
}

// TestHostileHugeLiteral: literals announced at 2 GB are refused before
// any byte is read (a synchronizing one without a continuation request, a
// non-synchronizing one by closing, since its bytes would follow), and one
// within bounds that is announced and never sent ends with the timeout.
func TestHostileHugeLiteral(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.LoginTimeout = 500 * time.Millisecond })
	const huge = "{2147483648}"
	c := env.dial()
	c.send("a LOGIN " + huge)
	c.expect(`^a BAD \[TOOBIG\] `)
	c.login()
	c.send("b APPEND INBOX " + huge)
	c.expect(`^b NO \[TOOBIG\] `)
	c.send("c CREATE " + huge)
	c.expect(`^c BAD \[TOOBIG\] `)
	c.send("d NOOP")
	c.expect(`^d OK `)
	c.send("e APPEND INBOX {2147483648+}")
	l := c.readLine()
	if !strings.HasPrefix(l, "* BYE ") && !strings.HasPrefix(l, "e NO [TOOBIG]") {
		t.Fatalf("non-synchronizing 2 GB literal: %q", l)
	}
	c.expectClosed()
	wellBehaved(t, env)

	// Announced within bounds, then silence: the login timeout ends it.
	c = env.dial()
	c.send("a LOGIN {10}")
	c.expect(`^\+ `)
	c.expect(`^\* BYE Autologout; idle for too long$`)
	c.expectClosed()
}

// TestHostileManyRanges: a sequence set of 100,000 ranges. Within the
// default line limit it cannot be sent (BYE [TOOBIG]: the server
// closes the connection: a line that long is not worth reading to its
// end); with the limit raised to let it through, it is answered right, in
// one sort rather than one insertion per range (wire.SeqSet.Resolve).
func TestHostileManyRanges(t *testing.T) {
	var b strings.Builder
	for i := 100_000; i >= 1; i-- {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(2 * i))
	}
	set := b.String() // 2,4,6,... in descending order, 600 KB
	for _, raised := range []bool{false, true} {
		env := newTestEnv(t, func(c *Config) {
			if raised {
				c.Limits.MaxLine = 1 << 20
			}
		})
		env.appendMessages("INBOX", 6, store.Flags{})
		c := env.dial()
		c.login()
		c.send("s SELECT INBOX")
		c.until("s OK")
		c.send("a UID FETCH " + set + " (UID)")
		if !raised {
			// Far beyond the line limit: not worth reading to its end.
			c.expect(`^\* BYE \[TOOBIG\] `)
			wellBehaved(t, env)
			continue
		}
		got := c.until("a ")
		want := []string{"* 2 FETCH (UID 2)", "* 4 FETCH (UID 4)", "* 6 FETCH (UID 6)"}
		if !strings.HasPrefix(got[len(got)-1], "a OK") || strings.Join(got[:len(got)-1], "|") != strings.Join(want, "|") {
			t.Fatalf("raised limit: %q", got)
		}
		c.send("n NOOP")
		c.expect(`^n OK `)
		wellBehaved(t, env)
	}
}

// TestHostileLongMailboxName: a 1 MB mailbox name is refused before it is
// read into memory: as a synchronizing literal without asking for it (the
// connection goes on), as a non-synchronizing literal by skipping its
// bytes (beyond 1 MiB, or quoted, by closing the connection: too many bytes
// to skip).
func TestHostileLongMailboxName(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.dial()
	c.login()
	name := strings.Repeat("m", 1<<20)
	c.send(fmt.Sprintf("b SELECT {%d}", len(name)))
	c.expect(`^b BAD \[TOOBIG\] `)
	c.send("n NOOP")
	c.expect(`^n OK `)
	// Non-synchronizing: up to 1 MiB (wire.Limits.MaxDiscard) the bytes
	// are skipped as they come, never held; beyond, the connection ends.
	c.send(fmt.Sprintf("c STATUS {%d+}\r\n%s (MESSAGES)", len(name), name))
	c.expect(`^c BAD \[TOOBIG\] `)
	c.send("n NOOP")
	c.expect(`^n OK `)
	c.send(fmt.Sprintf("d STATUS {%d+}", 2*len(name)))
	c.expect(`^\* BYE \[TOOBIG\] `)
	c.expectClosed()

	c = env.dial()
	c.login()
	c.send(`a CREATE "` + name + `"`)
	c.expect(`^\* BYE \[TOOBIG\] `)
	wellBehaved(t, env)
	if l, err := env.store.Open(context.Background(), testUser); err == nil {
		defer l.Close()
		if _, err := l.Mailbox(context.Background(), name); err == nil {
			t.Fatal("the mailbox was created")
		}
	}
}

// raiseFileLimit raises the process's open file limit to at least n, or
// skips the test.
func raiseFileLimit(t *testing.T, n uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skipf("file limit unknown: %v", err)
	}
	if rl.Cur >= n {
		return
	}
	if rl.Max < n {
		t.Skipf("needs %d open files; the hard limit is %d", n, rl.Max)
	}
	rl.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skipf("raising the file limit to %d: %v", n, err)
	}
}

// hostileConnsEnv names how many connections TestHostileManyConnections
// opens from one address (300 by default; 10000 on demand).
const hostileConnsEnv = "TIDEMARK_HOSTILE_CONNS"

// TestHostileManyConnections: hundreds of connections from one address
// get the per-address limit's BYE past 50; a client from another address
// is served meanwhile, and the slots return when they close.
func TestHostileManyConnections(t *testing.T) {
	n := 300
	if v := os.Getenv(hostileConnsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("%s: %v", hostileConnsEnv, err)
		}
	}
	const perIP = 50
	// The client ends, and the server's for the connections it serves;
	// the refused ones it closes.
	raiseFileLimit(t, uint64(n+perIP+512))
	limiter := auth.NewConnLimiter(perIP, 0)
	env := newTestEnv(t, func(c *Config) { c.Limiter = limiter; c.MaxConnections = -1 })
	before := heapInUse()
	conns := make([]net.Conn, n)
	var served, refused int
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range conns {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			conn, err := net.Dial("tcp", env.addr)
			if err != nil {
				t.Error(err)
				return
			}
			conns[i] = conn
			conn.SetReadDeadline(time.Now().Add(hangDeadline))
			l, _ := bufio.NewReader(conn).ReadString('\n')
			mu.Lock()
			defer mu.Unlock()
			switch {
			case strings.HasPrefix(l, "* OK "):
				served++
			case strings.HasPrefix(l, "* BYE [UNAVAILABLE] Too many connections from your address"):
				refused++
			default:
				t.Errorf("connection %d: %q", i, l)
			}
		})
	}
	wg.Wait()
	if served != perIP || refused != n-perIP {
		t.Fatalf("served %d, refused %d of %d", served, refused, n)
	}
	t.Logf("%d connections: %d served, %d refused; heap grew %d KiB", n, served, refused, (int64(heapInUse())-int64(before))>>10)

	// Another address is not affected.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	other, err := d.Dial("tcp", env.addr)
	if err != nil {
		t.Skipf("cannot dial from 127.0.0.2: %v", err)
	}
	defer other.Close()
	oc := &client{t: t, conn: other, r: bufio.NewReader(other)}
	oc.expect(`^\* OK `)
	oc.login()

	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	waitConns(t, env.srv, 1)
	c := env.dial()
	c.login()
}

// hostileLoginsEnv names how many failed logins TestHostileFailedLogins
// sends (300 by default; 10000 on demand).
const hostileLoginsEnv = "TIDEMARK_HOSTILE_LOGINS"

// TestHostileFailedLogins: hundreds of wrong passwords from one address.
// The throttle refuses the address after its allowance, and a refused
// attempt costs no password hash (counted by auth.Accounts); the right
// password from another address still gets in.
func TestHostileFailedLogins(t *testing.T) {
	accts, err := auth.OpenAccountsWith(t.TempDir(), auth.Options{
		Hash:         auth.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		FailureDelay: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer accts.Close()
	if err := accts.Add(testUser, testPass); err != nil {
		t.Fatal(err)
	}
	env := newTestEnv(t, func(c *Config) { c.Auth = accts; c.MaxBadCommands = 1 << 20 })
	attempts := 300
	if v := os.Getenv(hostileLoginsEnv); v != "" {
		var err error
		if attempts, err = strconv.Atoi(v); err != nil {
			t.Fatalf("%s: %v", hostileLoginsEnv, err)
		}
	}
	c := env.dial()
	var refused int
	for i := range attempts {
		user := testUser
		if i%2 == 1 {
			user = fmt.Sprintf("nobody%d", i) // unknown users cost a (dummy) hash too
		}
		c.send(fmt.Sprintf("a%d LOGIN %s wrong-%d", i, user, i))
		l := c.readLine()
		if strings.HasPrefix(l, "* BYE") {
			c = env.dial() // the server may end a connection with too many failures
			c.send(fmt.Sprintf("a%d LOGIN %s wrong-%d", i, user, i))
			l = c.readLine()
		}
		switch {
		case strings.Contains(l, "NO [UNAVAILABLE]"):
			refused++
		case strings.Contains(l, "NO [AUTHENTICATIONFAILED]"):
		default:
			t.Fatalf("attempt %d: %q", i, l)
		}
	}
	hashes := accts.PasswordHashes()
	t.Logf("%d failed logins: %d refused by the throttle, %d password hashes", attempts, refused, hashes)
	if hashes > 20 || refused < attempts-20 {
		t.Fatalf("%d hashes, %d refused for %d attempts from one address (allowance 20)", hashes, refused, attempts)
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	other, err := d.Dial("tcp", env.addr)
	if err != nil {
		t.Skipf("cannot dial from 127.0.0.2: %v", err)
	}
	defer other.Close()
	oc := &client{t: t, conn: other, r: bufio.NewReader(other)}
	oc.expect(`^\* OK `)
	oc.login()
}
