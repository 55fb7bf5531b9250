package server

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/quota"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// sendRaw writes bytes as they are: literal data, several lines at once.
func (c *client) sendRaw(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// inboxMessages reads every INBOX message's stored data.
func (e *testEnv) inboxMessages() []store.MessageData {
	e.t.Helper()
	a := e.account()
	mb, err := a.Mailbox(context.Background(), "INBOX")
	if err != nil {
		e.t.Fatal(err)
	}
	var out []store.MessageData
	err = a.Messages(context.Background(), mb.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}}, func(m *store.MessageData) error {
		out = append(out, *m)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func testMessage(subject string) string {
	return "From: a@example.org\r\nSubject: " + subject + "\r\n\r\nHello\r\n"
}

// literal announces msg as a literal of the given kind ("", "+", "~", "~+").
func literal(kind, msg string) string {
	open := "{"
	if strings.HasPrefix(kind, "~") {
		open = "~{"
	}
	return fmt.Sprintf("%s%d%s}\r\n%s", open, len(msg), strings.TrimPrefix(kind, "~"), msg)
}

func TestAppend(t *testing.T) {
	env := newTestEnv(t, func(cfg *Config) { cfg.Limits.MaxAppendLiteral = 4000 })
	v := itoa(env.mailboxStatus("INBOX").UIDValidity)
	c := env.dial()
	c.login()

	c.send("cap CAPABILITY")
	caps := c.expect(`^\* CAPABILITY `, `^cap OK`)[0]
	for _, want := range []string{"UIDPLUS", "MOVE", "MULTIAPPEND", "LITERAL+", "APPENDLIMIT=4000"} {
		if !contains(caps, want) {
			t.Errorf("CAPABILITY lacks %s: %q", want, caps)
		}
	}

	// Synchronizing literal: the client waits for the continuation.
	m1 := testMessage("one")
	c.send(fmt.Sprintf("a APPEND INBOX {%d}", len(m1)))
	c.expect(`^\+ `)
	c.sendRaw(m1 + "\r\n")
	c.expect(`^a OK \[APPENDUID ` + v + ` 1\] APPEND completed$`)

	// Flags, date-time and LITERAL+.
	m2 := testMessage("two")
	c.sendRaw(`b APPEND INBOX (\Seen $Label) "01-Feb-2024 10:20:30 +0100" ` + literal("+", m2) + "\r\n")
	c.expect(`^b OK \[APPENDUID ` + v + ` 2\] APPEND completed$`)

	// MULTIAPPEND (RFC 3502): one command, consecutive UIDs.
	c.sendRaw("c APPEND INBOX " + literal("+", testMessage("three")) + ` (\Flagged) ` + literal("+", testMessage("four")) + "\r\n")
	c.expect(`^c OK \[APPENDUID ` + v + ` 3:4\] APPEND completed$`)
	// MULTIAPPEND with synchronizing literals: a continuation for each.
	m5, m6 := testMessage("five"), testMessage("six")
	c.send(fmt.Sprintf("d APPEND INBOX {%d}", len(m5)))
	c.expect(`^\+ `)
	c.sendRaw(fmt.Sprintf("%s {%d}\r\n", m5, len(m6)))
	c.expect(`^\+ `)
	c.sendRaw(m6 + "\r\n")
	c.expect(`^d OK \[APPENDUID ` + v + ` 5:6\] APPEND completed$`)

	msgs := env.inboxMessages()
	if len(msgs) != 6 {
		t.Fatalf("%d messages", len(msgs))
	}
	if m := msgs[1]; m.Flags.System != store.FlagSeen || !m.Flags.Has("$Label") || m.Size != int64(len(m2)) ||
		!m.InternalDate.Equal(time.Date(2024, 2, 1, 9, 20, 30, 0, time.UTC)) {
		t.Fatalf("message 2: %+v %v", m.Flags, m.InternalDate)
	}
	if msgs[3].Flags.System != store.FlagFlagged || msgs[2].Flags.System != 0 {
		t.Fatalf("MULTIAPPEND flags %+v %+v", msgs[2].Flags, msgs[3].Flags)
	}

	// A large message goes through the temporary-file spool.
	big := testMessage("big") + strings.Repeat("0123456789abcdef\r\n", 20000)
	env2 := newTestEnv(t, nil)
	c2 := env2.dial()
	c2.login()
	c2.sendRaw("big APPEND INBOX " + literal("+", big) + "\r\n")
	c2.expect(`^big OK \[APPENDUID \d+ 1\] APPEND completed$`)
	if ms := env2.inboxMessages(); len(ms) != 1 || ms[0].Size != int64(len(big)) {
		t.Fatalf("big message stored as %+v", ms)
	}
}

func TestAppendErrors(t *testing.T) {
	env := newTestEnv(t, func(cfg *Config) { cfg.Limits.MaxAppendLiteral = 4000 })
	c := env.dial()
	c.login()

	// A missing mailbox is refused before the literal is accepted.
	c.send("a APPEND Nowhere {10}")
	c.expect(`^a NO \[TRYCREATE\] No such mailbox$`)
	// So is a synchronizing literal above APPENDLIMIT (RFC 7889 4).
	c.send("b APPEND INBOX {5000}")
	c.expect(`^b NO \[TOOBIG\] Message exceeds the APPENDLIMIT$`)
	c.send("n NOOP")
	c.expect(`^n OK`)

	// MULTIAPPEND is all or nothing: the second message is too big (sent
	// with LITERAL+, so its bytes arrive anyway and are skipped).
	c.sendRaw("c APPEND INBOX " + literal("+", testMessage("ok")) + " " + literal("+", strings.Repeat("x", 4500)) + "\r\n")
	c.expect(`^c NO \[TOOBIG\] `)
	// A bad flag in the second message: the first is not appended either.
	c.sendRaw("d APPEND INBOX " + literal("+", testMessage("ok")) + ` (\Recent) ` + literal("+", testMessage("x")) + "\r\n")
	c.expect(`^d BAD \[CLIENTBUG\] The \\Recent flag cannot be set$`)
	c.sendRaw("e APPEND INBOX " + literal("+", "") + "\r\n")
	c.expect(`^e NO Empty messages cannot be appended$`)
	// NUL bytes need literal8 (RFC 3516 4.4).
	withNUL := "Subject: bin\r\n\r\na\x00b\r\n"
	c.sendRaw("f APPEND INBOX " + literal("+", withNUL) + "\r\n")
	c.expect(`^f BAD Message contains NUL bytes; send it as literal8 \(~\{n\}\)$`)
	c.sendRaw(`g APPEND INBOX "31-Feb-2024 10:00:00 +0000" ` + literal("+", testMessage("x")) + "\r\n")
	c.expect(`^g BAD `)
	c.send("n2 NOOP")
	c.expect(`^n2 OK`)
	if ms := env.inboxMessages(); len(ms) != 0 {
		t.Fatalf("failed APPENDs stored %d messages", len(ms))
	}

	c.sendRaw("h APPEND INBOX " + literal("~+", withNUL) + "\r\n")
	c.expect(`^h OK \[APPENDUID \d+ 1\] APPEND completed$`)
	if ms := env.inboxMessages(); len(ms) != 1 || ms[0].Size != int64(len(withNUL)) {
		t.Fatalf("literal8 message stored as %+v", ms)
	}

	// Over quota is NO [OVERQUOTA] (mapped once, in protocolError).
	if e := protocolError(fmt.Errorf("append: %w", store.ErrOverQuota)); e.Status != NO || e.Code != "OVERQUOTA" {
		t.Fatalf("over quota answered %v", e)
	}
}

// TestAppendToSelected: the session hears of its own APPEND as EXISTS
// (RFC 9051 6.3.12), before the tagged OK.
func TestAppendToSelected(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 2, store.Flags{})
	c := env.selectInbox()
	c.sendRaw("a APPEND INBOX " + literal("+", testMessage("new")) + "\r\n")
	// The session that learns of its own APPEND claims it as \Recent.
	c.expect(`^\* 3 EXISTS$`, `^\* 1 RECENT$`, `^a OK \[APPENDUID \d+ 3\] APPEND completed$`)
	c.sendRaw("b APPEND INBOX (NewWord) " + literal("+", testMessage("new")) + "\r\n")
	c.expect(`^\* FLAGS \(.*NewWord\)$`, `^\* OK \[PERMANENTFLAGS `, `^\* 4 EXISTS$`, `^\* 2 RECENT$`, `^b OK`)
}

// TestAppendQuotaBeforeSpooling: an APPEND whose announced size would take
// the user over quota is refused before the client is asked for the bytes,
// so nothing is read or spooled; with MULTIAPPEND the messages before it
// count.
func TestAppendQuotaBeforeSpooling(t *testing.T) {
	env, _ := newQuotaEnv(t, quota.Limits{StorageBytes: 100 << 10})
	c := env.dial()
	c.login()
	// 10 MiB announced: refused at once, no continuation.
	c.send("a APPEND INBOX {10485760}")
	c.expect(`^a NO \[OVERQUOTA\] `)
	// Two messages of 60 KiB: the second is refused before its bytes.
	msg := "Subject: x\r\n\r\n" + strings.Repeat("y", 60<<10)
	c.send(fmt.Sprintf("b APPEND INBOX {%d}", len(msg)))
	c.expect(`^\+ `)
	c.conn.Write([]byte(msg))
	c.send(fmt.Sprintf(" {%d}", len(msg)))
	c.expect(`^b NO \[OVERQUOTA\] `)
	c.send("c STATUS INBOX (MESSAGES)")
	c.expect(`^\* STATUS INBOX \(MESSAGES 0\)$`, `^c OK `)
	if left := env.srv.spoolMem.available(); left != spoolMemoryTotal {
		t.Errorf("spool memory not given back: %d of %d", left, spoolMemoryTotal)
	}
}

// TestAppendMemoryBounded: the messages of one MULTIAPPEND are held in
// memory only up to appendMemoryPerCommand, and only while the server-wide
// budget has room; the rest is spooled to files, and everything arrives.
func TestAppendMemoryBounded(t *testing.T) {
	for _, serverBudget := range []int64{spoolMemoryTotal, 0} {
		env := newTestEnv(t, nil)
		env.srv.spoolMem = newMemBudget(serverBudget)
		c := env.dial()
		c.login()
		msg := "Subject: x\r\n\r\n" + strings.Repeat("y", 200<<10)
		c.send(fmt.Sprintf("a APPEND INBOX {%d}", len(msg)))
		for i := range 8 {
			c.expect(`^\+ `)
			if i == 7 {
				// Seven messages are spooled; the server waits for the last.
				held := serverBudget - env.srv.spoolMem.available()
				if held > appendMemoryPerCommand || serverBudget > 0 && held == 0 {
					t.Errorf("budget %d: %d bytes of one command held in memory", serverBudget, held)
				}
			}
			c.conn.Write([]byte(msg))
			if i < 7 {
				c.send(fmt.Sprintf(" {%d}", len(msg)))
			} else {
				c.send("")
			}
		}
		c.expect(`^a OK \[APPENDUID \d+ 1:8\] `)
		if left := env.srv.spoolMem.available(); left != serverBudget {
			t.Errorf("budget %d: %d left after the command", serverBudget, left)
		}
	}
}

// TestMultiAppendRefusedMidway: the store takes a MULTIAPPEND's messages
// as they arrive and refuses the second (over the store's size limit)
// before the third is read. The rest of the command is still read, the
// answer is a tagged NO, nothing is appended, and the next command on the
// connection runs.
func TestMultiAppendRefusedMidway(t *testing.T) {
	embeddedOnly(t, "sets the embedded store's message size limit, which refuses the second literal")
	env := newTestEnvStore(t, "127.0.0.1:0", sqlitestore.Options{MaxMessageSize: 500}, nil)
	c := env.dial()
	c.login()
	big := testMessage("big") + strings.Repeat("x", 600) + "\r\n"
	c.sendRaw("a APPEND INBOX " + literal("+", testMessage("one")) + " " + literal("+", big) + " " +
		literal("+", testMessage("three")) + "\r\n")
	c.expect(`^a NO \[TOOBIG\] `)
	c.send("b NOOP")
	c.expect(`^b OK `)
	if ms := env.inboxMessages(); len(ms) != 0 {
		t.Fatalf("%d messages appended by a refused MULTIAPPEND", len(ms))
	}
	c.sendRaw("c APPEND INBOX " + literal("+", testMessage("one")) + " " + literal("+", testMessage("two")) + "\r\n")
	c.expect(`^c OK \[APPENDUID \d+ 1:2\] `)
}
