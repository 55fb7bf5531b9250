package server

import (
	"bufio"
	"io"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// RFC 8437 3 and 4.1: UNAUTHENTICATE leaves the selected mailbox without
// expunge responses, resets CONDSTORE and the other enabled extensions,
// and puts the session back before login, where LOGIN works again (here
// pipelined behind it, which the RFC allows without a SASL layer).
func TestUnauthenticate(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{})
	c := env.dial()
	c.send("a UNAUTHENTICATE")
	c.expect(`^a BAD UNAUTHENTICATE is not valid in the not authenticated state$`)
	c.login()
	c.send("b CAPABILITY")
	if caps := c.expect(`^\* CAPABILITY `, `^b OK`)[0]; !contains(caps, "UNAUTHENTICATE") {
		t.Fatalf("UNAUTHENTICATE not offered: %q", caps)
	}
	c.mbxRun("e ENABLE CONDSTORE", "* ENABLED CONDSTORE", "e OK ENABLE completed")
	c.send("s SELECT INBOX")
	c.until("s OK")
	c.send("f STORE 1 +FLAGS (\\Flagged)")
	c.expect(`^\* 1 FETCH \(UID 1 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)$`, `^f OK`)
	// Another session expunges message 2: the selected session is not told.
	a := env.account()
	mb, _ := a.Mailbox(t.Context(), "INBOX")
	if _, err := a.Expunge(t.Context(), mb.ID, store.UIDSet{{Start: 2, Stop: 2}}); err != nil {
		t.Fatal(err)
	}
	c.send("u UNAUTHENTICATE\r\nl LOGIN " + testUser + " " + testPass)
	c.expect(`^u OK \[CAPABILITY IMAP4rev1 .*\] Not authenticated any more$`, `^l OK \[CAPABILITY .*\] Logged in$`)
	c.send("s2 SELECT INBOX")
	c.until("s2 OK")
	// CONDSTORE is off again: no MODSEQ in the untagged FETCH.
	c.send("f2 STORE 1 -FLAGS (\\Flagged)")
	c.expect(`^\* 1 FETCH \(FLAGS \(\)\)$`, `^f2 OK`)
	c.send("u2 UNAUTHENTICATE")
	c.expect(`^u2 OK `)
	c.send("x SELECT INBOX")
	c.expect(`^x BAD SELECT is not valid in the not authenticated state$`)
	c.send("y CAPABILITY")
	if caps := c.expect(`^\* CAPABILITY `, `^y OK`)[0]; contains(caps, "UNAUTHENTICATE") || !contains(caps, "AUTH=PLAIN") {
		t.Fatalf("capabilities after UNAUTHENTICATE: %q", caps)
	}
}

// RFC 8437 4.1: COMPRESS ends with UNAUTHENTICATE, right after the OK on
// the server's side and after the command on the client's. Both ways a
// client may end its stream — a sync flush only, or a final block too —
// leave the next (plain) command readable.
func TestUnauthenticateEndsCompression(t *testing.T) {
	for _, closeStream := range []bool{false, true} {
		env := newTestEnv(t, nil)
		c := env.dial()
		c.login()
		raw := c.conn
		dc := c.compress()
		c.send("n NOOP")
		c.expect(`^n OK NOOP completed$`)
		c.send("u UNAUTHENTICATE")
		if closeStream {
			dc.w.Close()
		}
		c.expect(`^u OK \[CAPABILITY .*\] Not authenticated any more$`)
		// The server closed its stream: the inflater reaches its end.
		if n, err := io.Copy(io.Discard, c.r); err != nil || n != 0 {
			t.Fatalf("after the OK: %d bytes, %v", n, err)
		}
		c.conn, c.r = raw, bufio.NewReader(raw)
		c.login()
		c.send("s SELECT INBOX")
		c.until("s OK")
		// COMPRESS again, on the same connection.
		c.compress()
		c.send("n2 NOOP")
		c.expect(`^n2 OK NOOP completed$`)
	}
}

// go-imap's client: Unauthenticate, then a login as the same user again.
func TestUnauthenticateImapclient(t *testing.T) {
	env := newTestEnv(t, nil)
	cl := dialImapClient(t, env)
	caps, err := cl.Capability().Wait()
	if err != nil || !caps.Has(imap.CapUnauthenticate) {
		t.Fatalf("capabilities %v %v", caps, err)
	}
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Unauthenticate().Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Select("INBOX", nil).Wait(); err == nil {
		t.Fatal("SELECT worked after UNAUTHENTICATE")
	}
	if err := cl.Login(testUser, testPass).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
}
