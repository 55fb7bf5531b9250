package server

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestSearchLiteralMemory: SEARCH with a thousand 64 KiB literals used to
// hold about 128 MB for one command. The literals of one command read into
// memory are bounded together (wire.Limits.MaxCommandMemory, 1 MiB): the
// one past the bound is refused before the client sends it, and the
// connection goes on.
func TestSearchLiteralMemory(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 1, store.Flags{})
	c := env.dial()
	c.login()
	c.send("s SELECT INBOX")
	c.until("s OK")
	lit := strings.Repeat("z", 60<<10)
	c.send(fmt.Sprintf("a SEARCH TEXT {%d}", len(lit)))
	refused := -1
	for i := 1; i < 40; i++ {
		l := c.readLine()
		if strings.HasPrefix(l, "a BAD [LIMIT]") {
			refused = i
			break
		}
		if !strings.HasPrefix(l, "+ ") {
			t.Fatalf("literal %d: %q", i, l)
		}
		c.conn.Write([]byte(lit))
		c.send(fmt.Sprintf(" TEXT {%d}", len(lit)))
	}
	if refused < 0 || int64(refused-1)*int64(len(lit)) > 1<<20 {
		t.Fatalf("refused at literal %d", refused)
	}
	c.send("b NOOP")
	c.expect(`^b OK `)
}

// TestLoginTimeout: a client that connects and says nothing is logged out
// after LoginTimeout, not after the 30 minutes allowed once logged in.
func TestLoginTimeout(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.LoginTimeout = 100 * time.Millisecond })
	c := env.dial()
	c.expect(`^\* BYE Autologout; idle for too long$`)
	c.expectClosed()
	// Logged in, the long timeout applies.
	c = env.dial()
	c.login()
	time.Sleep(300 * time.Millisecond)
	c.send("a NOOP")
	c.expect(`^a OK `)
}

// TestWriteTimeout: a client that asks for a lot and stops reading is
// disconnected after WriteTimeout, releasing its connection slot, instead
// of holding its goroutine and store handle forever.
func TestWriteTimeout(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.WriteTimeout = 200 * time.Millisecond })
	a := env.account()
	mb, err := a.Mailbox(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 1<<16) // 1.1 MB
	// 13 MB of answer: more than the kernel buffers of both ends hold
	// (the client's receive buffer is made small, the server's send buffer
	// grows to 4 MB at most by default).
	var msgs []store.NewMessage
	for range 12 {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(big)})
	}
	if _, err := a.Append(context.Background(), mb.ID, msgs); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096) // the client's window fills soon
	}
	fmt.Fprintf(conn, "a LOGIN %s %s\r\nb SELECT INBOX\r\nc FETCH 1:* BODY.PEEK[]\r\n", testUser, testPass)
	// Never read. The server's write must give up and end the session.
	deadline := time.Now().Add(30 * time.Second)
	for env.srv.connCount() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("session of a client that stopped reading still open")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMaxConnections: past the server-wide cap a new connection is told
// BYE and closed; when one ends, a new one is served again.
func TestMaxConnections(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.MaxConnections = 3 })
	var held []*client
	for range 3 {
		held = append(held, env.dial())
	}
	conn, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(hangDeadline))
	if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "* BYE [UNAVAILABLE] Too many connections") {
		t.Fatalf("fourth connection: %q", l)
	}
	held[0].send("z LOGOUT")
	held[0].until("z OK")
	held[0].expectClosed()
	deadline := time.Now().Add(10 * time.Second)
	for env.srv.connCount() >= 3 {
		if time.Now().After(deadline) {
			t.Fatal("closed connection still counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	env.dial()
}

// TestShutdownWhileGreeting: Shutdown while connections are being greeted
// and are waiting for commands. Only each connection's own goroutine
// writes to it (shutdown used to write the BYE from the caller's
// goroutine, racing with the greeting): every client sees whole lines,
// a greeting and then BYE. Run with -race.
func TestShutdownWhileGreeting(t *testing.T) {
	env := newTestEnv(t, nil)
	var wg sync.WaitGroup
	lines := make(chan []string, 40)
	for range 40 {
		wg.Go(func() {
			conn, err := net.Dial("tcp", env.addr)
			if err != nil {
				return // the listener may be closed already
			}
			defer conn.Close()
			conn.SetReadDeadline(time.Now().Add(hangDeadline))
			r := bufio.NewReader(conn)
			var got []string
			for {
				l, err := r.ReadString('\n')
				if l != "" {
					got = append(got, l)
				}
				if err != nil {
					break
				}
			}
			lines <- got
		})
	}
	time.Sleep(5 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := env.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(lines)
	for got := range lines {
		for i, l := range got {
			ok := strings.HasPrefix(l, "* OK [CAPABILITY ") && i == 0 ||
				l == "* BYE Server shutting down\r\n" && i == len(got)-1
			if !ok || !strings.HasSuffix(l, "\r\n") {
				t.Errorf("line %d of %q", i, got)
			}
		}
	}
}
