package server

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark-mail/tidemark/internal/auth"
)

func TestLogin(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.dial()
	c.send("a1 LOGIN joe wrong-pass")
	c.expect(`^a1 NO \[AUTHENTICATIONFAILED\] Invalid credentials$`)
	c.send("a2 SELECT INBOX")
	c.expect(`^a2 BAD SELECT is not valid in the not authenticated state$`)
	c.send(`a3 LOGIN "JOE" {11}`)
	c.expect(`^\+ `)
	c.send(testPass)
	c.expect(`^a3 OK \[CAPABILITY IMAP4rev1 IMAP4rev2 .*\] Logged in$`)
	c.send("a4 LOGIN joe secret-pass")
	c.expect(`^a4 BAD LOGIN is not valid in the authenticated state$`)
	c.send("a5 LOGOUT")
	c.expect(`^\* BYE `, `^a5 OK LOGOUT completed$`)
	c.expectClosed()
}

// TestLoginDisabledWithoutTLS connects from an address of this machine
// that is not loopback, so the server sees a remote plaintext client: it
// must advertise LOGINDISABLED, offer no AUTH=PLAIN, and refuse LOGIN and
// AUTHENTICATE (RFC 9051 6.2.3). Loopback itself keeps passwords allowed.
func TestLoginDisabledWithoutTLS(t *testing.T) {
	c := newTestEnv(t, nil).dial()
	c.send("c CAPABILITY")
	caps := c.expect(`^\* CAPABILITY `, `^c OK`)
	if !contains(caps[0], "AUTH=PLAIN") || contains(caps[0], "LOGINDISABLED") {
		t.Fatalf("loopback capabilities: %q", caps[0])
	}

	addr, ok := nonLoopbackAddr(t)
	if !ok {
		return // the checks below ran in a network namespace
	}
	t.Logf("listening on %s", addr)
	c = newTestEnvOn(t, net.JoinHostPort(addr.String(), "0"), nil).dial()
	c.send("c CAPABILITY")
	caps = c.expect(`^\* CAPABILITY `, `^c OK`)
	if !contains(caps[0], "LOGINDISABLED") || contains(caps[0], "AUTH=PLAIN") {
		t.Fatalf("non-loopback plaintext capabilities: %q", caps[0])
	}
	c.send("l LOGIN " + testUser + " " + testPass)
	c.expect(`^l NO \[PRIVACYREQUIRED\] `)
	c.send("a AUTHENTICATE PLAIN AGpvZQBzZWNyZXQtcGFzcw==")
	c.expect(`^a NO \[PRIVACYREQUIRED\] `)
	c.send("s SELECT INBOX")
	c.expect(`^s BAD `)
}

// nonLoopbackAddr returns an address of this machine, not loopback, that
// a socket can listen on. Where the machine has none, the test runs again
// in a private network namespace with a documentation address (RFC 5737)
// added to its loopback interface (ok is then false: the caller's checks
// already ran there), and skips only where that cannot be made.
func nonLoopbackAddr(t *testing.T) (addr netip.Addr, ok bool) {
	t.Helper()
	if s := os.Getenv("TIDEMARK_TEST_NETNS_ADDR"); s != "" {
		return netip.MustParseAddr(s), true
	}
	ifaces, _ := net.InterfaceAddrs()
	for _, a := range ifaces {
		p, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := p.Addr()
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
			continue
		}
		if l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0")); err == nil {
			l.Close()
			return ip, true
		}
	}
	const nsAddr = "192.0.2.77"
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no non-loopback address on this machine and no unshare(1) for a network namespace")
	}
	script := "ip link set lo up && ip addr add " + nsAddr + "/32 dev lo && exec \"$0\" \"$@\""
	cmd := exec.Command(unshare, "-rn", "sh", "-c", script, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "TIDEMARK_TEST_NETNS_ADDR="+nsAddr)
	out, err := cmd.CombinedOutput()
	if err != nil && bytes.Contains(out, []byte("unshare")) {
		t.Skipf("no non-loopback address on this machine and no network namespace: %s", out)
	}
	if err != nil {
		t.Fatalf("in a network namespace: %v\n%s", err, out)
	}
	t.Logf("ran in a network namespace:\n%s", out)
	return netip.Addr{}, false
}

func contains(s, word string) bool {
	for _, w := range splitWords(s) {
		if w == word {
			return true
		}
	}
	return false
}

func splitWords(s string) []string {
	var out []string
	start := -1
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' {
			if start >= 0 {
				out = append(out, s[start:i])
			}
			start = -1
		} else if start < 0 {
			start = i
		}
	}
	return out
}

// TestManyLoginsFromOneAddress: 100 clients log in at once from one address
// with the right password (a webmail front end, an office behind NAT) while
// another address storms the same account with wrong passwords. Every
// correct login gets in; the storm is refused. Logins in flight used to
// count as failures and were refused with "Too many failed logins".
func TestManyLoginsFromOneAddress(t *testing.T) {
	dir := t.TempDir()
	accts, err := auth.OpenAccountsWith(dir, auth.Options{
		Hash:               auth.HashParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		FailureDelay:       -1,
		MaxFailuresPerIP:   20,
		MaxFailuresPerUser: 10,
		CacheTTL:           -1, // every login hashes, so they overlap
	})
	if err != nil {
		t.Fatal(err)
	}
	defer accts.Close()
	if err := accts.Add(testUser, testPass); err != nil {
		t.Fatal(err)
	}
	env := newTestEnv(t, func(c *Config) { c.Auth = accts })
	stormDialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	if c, err := stormDialer.Dial("tcp", env.addr); err != nil {
		t.Skipf("cannot connect from 127.0.0.2: %v", err)
	} else {
		c.Close()
	}
	var wg sync.WaitGroup
	var refused, stormOK atomic.Int32
	for i := range 100 {
		wg.Go(func() {
			cl, err := imapclient.DialInsecure(env.addr, nil)
			if err != nil {
				t.Error(err)
				return
			}
			defer cl.Close()
			if err := cl.Login(testUser, testPass).Wait(); err != nil {
				refused.Add(1)
				t.Errorf("login %d: %v", i, err)
			}
		})
		if i%2 == 0 {
			wg.Go(func() {
				conn, err := stormDialer.Dial("tcp", env.addr)
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				r := bufio.NewReader(conn)
				r.ReadString('\n')
				fmt.Fprintf(conn, "s LOGIN %s wrong-%d\r\n", testUser, i)
				if l, _ := r.ReadString('\n'); strings.HasPrefix(l, "s OK") {
					stormOK.Add(1)
				}
			})
		}
	}
	wg.Wait()
	if n := refused.Load(); n != 0 {
		t.Errorf("%d of 100 correct logins refused", n)
	}
	if n := stormOK.Load(); n != 0 {
		t.Errorf("%d wrong passwords accepted", n)
	}
	// The storm's address is now blocked for this user, even with the
	// right password; the busy address is not.
	conn, err := stormDialer.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	r.ReadString('\n')
	fmt.Fprintf(conn, "s LOGIN %s %s\r\n", testUser, testPass)
	if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "s NO [UNAVAILABLE]") {
		t.Errorf("right password from the storming address: %q", l)
	}
	c := env.dial()
	c.send("a LOGIN joe secret-pass")
	c.expect(`^a OK `)
}
