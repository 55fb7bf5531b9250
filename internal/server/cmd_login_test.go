package server

import (
	"bufio"
	"fmt"
	"net"
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

func TestLoginDisabledWithoutTLS(t *testing.T) {
	// The test connects over loopback, where passwords are allowed; make
	// the server treat it as remote by refusing loopback's exemption.
	env := newTestEnv(t, nil)
	c := env.dial()
	c.send("c CAPABILITY")
	caps := c.expect(`^\* CAPABILITY `, `^c OK`)
	if !contains(caps[0], "AUTH=PLAIN") || contains(caps[0], "LOGINDISABLED") {
		t.Fatalf("loopback capabilities: %q", caps[0])
	}
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
