package server

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// XSEQ stands for a non-UID command that relies on sequence numbers (like
// FETCH), to check that the dispatcher holds expunges back after it.
func init() {
	register(&Command{Name: "XSEQ", States: StateSelected, UsesSeqs: true, Run: func(s *Session, c *Cmd) error {
		if err := c.Dec.SP(); err != nil {
			return err
		}
		set, err := c.Dec.SeqSet()
		if err != nil {
			return err
		}
		if err := c.End(); err != nil {
			return err
		}
		uids, err := s.SeqSetUIDs(set, false)
		if err != nil {
			return err
		}
		s.Untagged().Raw("XSEQ ").UIDSet(uids).CRLF()
		return nil
	}})
}

func TestExpungeHeldDuringSeqCommands(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{})
	c := env.dial()
	c.login()
	c.send("s SELECT INBOX")
	c.until("s OK")
	a := env.account()
	mb, _ := a.Mailbox(context.Background(), "INBOX")
	if _, err := a.Expunge(context.Background(), mb.ID, store.UIDSetOf(2)); err != nil {
		t.Fatal(err)
	}
	env.appendMessages("INBOX", 1, store.Flags{})
	// The expunged message keeps sequence number 2; EXISTS still goes out.
	c.send("x XSEQ 1:*")
	c.expect(`^\* XSEQ 1:3$`, `^\* 4 EXISTS$`, `^\* 0 RECENT$`, `^x OK XSEQ completed$`)
	c.send("x2 XSEQ 4")
	c.expect(`^\* XSEQ 4$`, `^x2 OK`)
	c.send("x3 XSEQ 5")
	c.expect(`^x3 BAD Invalid message sequence number$`)
	c.send("n NOOP")
	c.expect(`^\* 2 EXPUNGE$`, `^n OK`)
	c.send("x4 XSEQ 2:*")
	c.expect(`^\* XSEQ 3:4$`, `^x4 OK`)
}

func TestDispatcherErrorsAndLimits(t *testing.T) {
	env := newTestEnv(t, func(c *Config) {
		c.Limits = wire.Limits{MaxLine: 200, MaxLiteral: 50, MaxDiscard: 1000}
		c.MaxBadCommands = 6
	})
	c := env.dial()
	c.send("a1 FROB")
	c.expect(`^a1 BAD \[CLIENTBUG\] Unknown command FROB$`)
	c.send("a2 LOGIN " + strings.Repeat("x", 300))
	c.expect(`^a2 BAD \[TOOBIG\] command line too long$`)
	c.send("a3 LOGIN {51}")
	c.expect(`^a3 BAD \[TOOBIG\] literal of 51 bytes exceeds the limit of 50$`)
	c.send("a4 LOGIN {60+}")
	c.send(strings.Repeat("y", 60) + " more")
	c.expect(`^a4 BAD \[TOOBIG\] `)
	c.send("a5 NOOP")
	c.expect(`^a5 OK NOOP completed$`)
	c.send("a6 LOGIN \"unterminated")
	c.expect(`^a6 BAD quoted string not terminated$`)
	c.send("a7 NOOP")
	c.expect(`^a7 OK NOOP completed$`)
	c.send("a8 LOGIN {2000+}")
	c.expect(`^\* BYE \[TOOBIG\] `)
	c.expectClosed()

	// Too many BAD commands in a row end the connection.
	c = env.dial()
	for i := 0; i < 5; i++ {
		c.send("b FROB")
		c.expect(`^b BAD `)
	}
	c.send("b FROB")
	c.expect(`^b BAD `, `^\* BYE Too many invalid commands$`)
	c.expectClosed()
}

func TestCapabilityEnableID(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.dial()
	c.send("c CAPABILITY")
	caps := c.expect(`^\* CAPABILITY IMAP4rev1 IMAP4rev2 `, `^c OK`)[0]
	for _, w := range []string{"LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE", "AUTH=PLAIN", "AUTH=LOGIN"} {
		if !contains(caps, w) {
			t.Errorf("capability %s missing from %q", w, caps)
		}
	}
	if contains(caps, "STARTTLS") {
		t.Errorf("STARTTLS offered without a TLS configuration")
	}
	c.send(`i ID ("name" "test" "version" NIL)`)
	c.expect(`^\* ID \("name" "Tidemark" `, `^i OK`)
	c.send("e ENABLE CONDSTORE")
	c.expect(`^e BAD ENABLE is not valid in the not authenticated state$`)
	c.login()
	c.send("e ENABLE IMAP4rev2 X-UNKNOWN UTF8=ACCEPT")
	c.expect(`^\* ENABLED IMAP4rev2 UTF8=ACCEPT$`, `^e OK`)
	c.send("e2 ENABLE IMAP4rev2")
	c.expect(`^\* ENABLED$`, `^e2 OK`)
	// IMAP4rev2 SELECT: no RECENT, a LIST response, UTF-8 names.
	if _, err := env.account().CreateMailbox(context.Background(), "Entwürfe", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.send(`s SELECT "Entwürfe"`)
	lines := c.until("s ")
	joined := strings.Join(lines, "\n")
	if strings.Contains(joined, "RECENT") || !strings.Contains(joined, `* LIST () "/" "Entwürfe"`) {
		t.Fatalf("IMAP4rev2 select: %q", lines)
	}
}

func TestAuthenticate(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.dial()
	c.send("a AUTHENTICATE PLAIN")
	c.expect(`^\+ $`)
	c.send("*")
	c.expect(`^a BAD Authentication cancelled$`)
	c.send("b AUTHENTICATE PLAIN AGpvZQB3cm9uZw==") // \0joe\0wrong
	c.expect(`^b NO \[AUTHENTICATIONFAILED\] `)
	c.send("c AUTHENTICATE LOGIN")
	c.expect(`^\+ VXNlcm5hbWU6$`) // "Username:"
	c.send("am9l")
	c.expect(`^\+ UGFzc3dvcmQ6$`) // "Password:"
	c.send("c2VjcmV0LXBhc3M=")
	c.expect(`^c OK \[CAPABILITY .*\] Authenticated$`)

	c = env.dial()
	c.send("d AUTHENTICATE PLAIN AGpvZQBzZWNyZXQtcGFzcw==") // SASL-IR \0joe\0secret-pass
	c.expect(`^d OK \[CAPABILITY .*\] Authenticated$`)
}

// TestPlaintextRefusedRemotely checks the rules for a client that is not
// on loopback and not on TLS on a session built directly, including the
// AllowPlaintextAuth switch; TestLoginDisabledWithoutTLS makes such a
// connection over a real socket.
func TestPlaintextRefusedRemotely(t *testing.T) {
	srv := New(Config{})
	s := &Session{srv: srv, remote: netip.MustParseAddr("192.0.2.7"), state: StateNotAuthenticated}
	caps := s.capabilityString()
	if !contains(caps, "LOGINDISABLED") || contains(caps, "AUTH=PLAIN") {
		t.Fatalf("remote plaintext capabilities: %q", caps)
	}
	err := s.login(testUser, testPass)
	if e := protocolError(err); e.Code != "PRIVACYREQUIRED" {
		t.Fatalf("login over plaintext: %v", err)
	}
	s.tls = true
	if caps := s.capabilityString(); contains(caps, "LOGINDISABLED") || !contains(caps, "AUTH=PLAIN") {
		t.Fatalf("TLS capabilities: %q", caps)
	}
	srv.cfg.AllowPlaintextAuth, s.tls = true, false
	if !s.plaintextAuthAllowed() {
		t.Fatal("AllowPlaintextAuth ignored")
	}
}

func TestClose(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 2, store.Flags{System: store.FlagDeleted})
	env.appendMessages("INBOX", 1, store.Flags{})
	c := env.dial()
	c.login()
	c.send("e EXAMINE INBOX")
	c.until("e OK")
	c.send("c1 CLOSE")
	c.expect(`^c1 OK CLOSE completed$`)
	c.send("s SELECT INBOX")
	lines := c.until("s OK")
	if !strings.Contains(strings.Join(lines, "\n"), "* 3 EXISTS") {
		t.Fatalf("EXAMINE+CLOSE must not expunge: %q", lines)
	}
	c.send("c2 CLOSE") // silent: no EXPUNGE responses
	c.expect(`^c2 OK CLOSE completed$`)
	c.send("s2 SELECT INBOX")
	lines = c.until("s2 OK")
	if !strings.Contains(strings.Join(lines, "\n"), "* 1 EXISTS") {
		t.Fatalf("CLOSE did not expunge: %q", lines)
	}
	c.send("u UNSELECT")
	c.expect(`^u OK UNSELECT completed$`)
	c.send("n NOOP")
	c.expect(`^n OK`)
}
