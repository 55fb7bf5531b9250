package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// deliver adds n messages to a mailbox through the store, as LMTP would,
// leaving them unclaimed (\Recent for the next session to select it).
func (e *testEnv) deliver(mailbox string, n int) {
	e.t.Helper()
	a := e.account()
	mb, err := a.Mailbox(context.Background(), mailbox)
	if err != nil {
		e.t.Fatal(err)
	}
	var msgs []store.NewMessage
	for i := 0; i < n; i++ {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(testMessage(fmt.Sprint("delivered ", i)))})
	}
	if _, err := a.Append(context.Background(), mb.ID, msgs); err != nil {
		e.t.Fatal(err)
	}
}

// recentOf sends SELECT or EXAMINE and returns the RECENT line, failing
// if there is none.
func (c *client) recentOf(cmd string) string {
	c.t.Helper()
	c.send(cmd)
	tag := strings.Fields(cmd)[0]
	for _, l := range c.until(tag + " OK") {
		if strings.HasSuffix(l, " RECENT") {
			return l
		}
	}
	c.t.Fatalf("%s: no RECENT response", cmd)
	return ""
}

// TestRecent: a message is \Recent for exactly one IMAP4rev1 session, the
// first to select its mailbox read-write after it arrived (RFC 3501
// 2.3.2); EXAMINE and STATUS never claim; the claim changes no modseq and
// sends nothing to other sessions.
func TestRecent(t *testing.T) {
	env := newTestEnv(t, nil)
	env.deliver("INBOX", 3)

	// STATUS counts the unclaimed messages and claims nothing.
	s := env.dial()
	s.login()
	s.mbxRun("a STATUS INBOX (MESSAGES RECENT)", "* STATUS INBOX (MESSAGES 3 RECENT 3)", "a OK STATUS completed")
	s.mbxRun("b STATUS INBOX (RECENT)", "* STATUS INBOX (RECENT 3)", "b OK STATUS completed")

	// EXAMINE shows them as recent without claiming them.
	ex := env.dial()
	ex.login()
	if l := ex.recentOf("e EXAMINE INBOX"); l != "* 3 RECENT" {
		t.Fatalf("EXAMINE: %q", l)
	}
	check(t, ex.exchange("f", "FETCH 1:* FLAGS"),
		`* 1 FETCH (FLAGS (\Recent))`, `* 2 FETCH (FLAGS (\Recent))`, `* 3 FETCH (FLAGS (\Recent))`, `f OK FETCH completed`)
	s.mbxRun("c STATUS INBOX (RECENT)", "* STATUS INBOX (RECENT 3)", "c OK STATUS completed")

	// The first read-write SELECT claims them, without a new modseq.
	before := env.mailbox("INBOX").HighestModSeq
	first := env.dial()
	first.login()
	if l := first.recentOf("s SELECT INBOX"); l != "* 3 RECENT" {
		t.Fatalf("first SELECT: %q", l)
	}
	if after := env.mailbox("INBOX").HighestModSeq; after != before {
		t.Fatalf("claiming \\Recent moved HIGHESTMODSEQ %d -> %d", before, after)
	}
	s.mbxRun("d STATUS INBOX (RECENT)", "* STATUS INBOX (RECENT 0)", "d OK STATUS completed")
	check(t, first.exchange("f", "FETCH 1:* (FLAGS)"),
		`* 1 FETCH (FLAGS (\Recent))`, `* 2 FETCH (FLAGS (\Recent))`, `* 3 FETCH (FLAGS (\Recent))`, `f OK FETCH completed`)
	first.search("SEARCH RECENT", `^\* SEARCH 1 2 3$`, `^t OK`)
	first.search("SEARCH OLD", `^\* SEARCH$`, `^t OK`)
	// \Seen and \Recent together: NEW is RECENT UNSEEN.
	check(t, first.exchange("g", "STORE 1 +FLAGS (\\Seen)"), `* 1 FETCH (FLAGS (\Seen \Recent))`, `g OK STORE completed`)
	first.search("SEARCH NEW", `^\* SEARCH 2 3$`, `^t OK`)
	first.search("SEARCH NOT NEW", `^\* SEARCH 1$`, `^t OK`)
	first.search("UID SEARCH RETURN (COUNT) RECENT", `^\* ESEARCH \(TAG "t"\) UID COUNT 3$`, `^t OK`)
	// The other session hears of the \Seen change only; its own view of
	// \Recent (unclaimed when it looked) is unchanged.
	check(t, ex.exchange("n", "NOOP"), `* 1 FETCH (FLAGS (\Seen \Recent))`, `n OK NOOP completed`)

	// A second read-write SELECT finds nothing recent.
	second := env.dial()
	second.login()
	if l := second.recentOf("s SELECT INBOX"); l != "* 0 RECENT" {
		t.Fatalf("second SELECT: %q", l)
	}
	check(t, second.exchange("f", "FETCH 1:* FLAGS"),
		`* 1 FETCH (FLAGS (\Seen))`, `* 2 FETCH (FLAGS ())`, `* 3 FETCH (FLAGS ())`, `f OK FETCH completed`)
	second.search("SEARCH RECENT", `^\* SEARCH$`, `^t OK`)
	second.search("SEARCH NEW", `^\* SEARCH$`, `^t OK`)
	second.search("SEARCH OLD", `^\* SEARCH 1 2 3$`, `^t OK`)

	// New mail while both are selected goes to the one that syncs first.
	env.deliver("INBOX", 2)
	check(t, second.exchange("n", "NOOP"), `* 5 EXISTS`, `* 2 RECENT`, `n OK NOOP completed`)
	check(t, first.exchange("n", "NOOP"), `* 5 EXISTS`, `* 3 RECENT`, `n OK NOOP completed`)
	second.search("SEARCH RECENT", `^\* SEARCH 4 5$`, `^t OK`)
	first.search("SEARCH RECENT", `^\* SEARCH 1 2 3$`, `^t OK`)
	// The read-only session learns of them after both claimed them: for
	// it they are not recent.
	check(t, ex.exchange("m", "NOOP"), `* 5 EXISTS`, `* 3 RECENT`, `m OK NOOP completed`)
	s.mbxRun("h STATUS INBOX (RECENT)", "* STATUS INBOX (RECENT 0)", "h OK STATUS completed")

	// The claim is stored: re-selecting finds nothing recent (the store
	// test TestClaimRecent checks it survives reopening).
	if l := first.recentOf("s2 SELECT INBOX"); l != "* 0 RECENT" {
		t.Fatalf("re-SELECT: %q", l)
	}

	// An expunged recent message leaves the count.
	check(t, second.exchange("x", "STORE 4 +FLAGS (\\Deleted)"), `* 4 FETCH (FLAGS (\Deleted \Recent))`, `x OK STORE completed`)
	check(t, second.exchange("y", "EXPUNGE"), `* 4 EXPUNGE`, `y OK EXPUNGE completed`)
	second.search("SEARCH RECENT", `^\* SEARCH 4$`, `^t OK`)
}

// TestRecentCopyMoveAppend: messages a session adds to another mailbox are
// recent there for the next session; those it adds to its own selected
// mailbox are recent for itself, as it learns of them first.
func TestRecentCopyMoveAppend(t *testing.T) {
	env := newTestEnv(t, nil)
	mbxCreate(t, env.account(), "Archive")
	env.deliver("INBOX", 3)
	c := env.dial()
	c.login()
	if l := c.recentOf("s SELECT INBOX"); l != "* 3 RECENT" {
		t.Fatalf("SELECT: %q", l)
	}
	c.send("a COPY 1 Archive")
	c.until("a OK")
	c.send("b MOVE 2 Archive")
	c.until("b OK")
	c.sendRaw("c APPEND Archive " + literal("+", testMessage("appended")) + "\r\n")
	c.until("c OK")
	c.mbxRun("d STATUS Archive (RECENT MESSAGES)", "* STATUS Archive (RECENT 3 MESSAGES 3)", "d OK STATUS completed")
	c.sendRaw("e APPEND INBOX " + literal("+", testMessage("mine")) + "\r\n")
	c.expect(`^\* 3 EXISTS$`, `^\* 3 RECENT$`, `^e OK \[APPENDUID \d+ 4\] APPEND completed$`)
	check(t, c.exchange("f", "UID FETCH 4 FLAGS"), `* 3 FETCH (UID 4 FLAGS (\Recent))`, `f OK UID FETCH completed`)
	c.mbxRun("g STATUS INBOX (RECENT)", "* STATUS INBOX (RECENT 0)", "g OK STATUS completed")

	o := env.dial()
	o.login()
	if l := o.recentOf("s SELECT Archive"); l != "* 3 RECENT" {
		t.Fatalf("SELECT Archive: %q", l)
	}
}

// TestRecentRev2: a session that enabled IMAP4rev2 never sees \Recent or
// RECENT (RFC 9051 dropped them) and claims nothing, so IMAP4rev1 clients
// of the same mailbox still get their recent messages.
func TestRecentRev2(t *testing.T) {
	env := newTestEnv(t, nil)
	env.deliver("INBOX", 2)
	v2 := env.dial()
	v2.loginRev2()
	v2.send("s SELECT INBOX")
	for _, l := range v2.until("s OK") {
		if strings.Contains(l, "RECENT") {
			t.Fatalf("IMAP4rev2 SELECT sent %q", l)
		}
	}
	check(t, v2.exchange("f", "FETCH 1:* FLAGS"), `* 1 FETCH (FLAGS ())`, `* 2 FETCH (FLAGS ())`, `f OK FETCH completed`)
	v2.search("SEARCH RECENT", `^\* ESEARCH \(TAG "t"\)$`, `^t OK`)
	v2.search("STATUS INBOX (RECENT)", `^t BAD Unknown status item RECENT$`)
	env.deliver("INBOX", 1)
	check(t, v2.exchange("n", "NOOP"), `* 3 EXISTS`, `n OK NOOP completed`)

	v1 := env.dial()
	v1.login()
	if l := v1.recentOf("s SELECT INBOX"); l != "* 3 RECENT" {
		t.Fatalf("IMAP4rev1 SELECT after IMAP4rev2 ones: %q", l)
	}
}

// TestRecentImapclient: go-imap's client (an IMAP4rev1 session here; it
// ignores the RECENT count) reads \Recent in FETCH FLAGS, for the first
// session that selects the mailbox and not for the second.
func TestRecentImapclient(t *testing.T) {
	env := newTestEnv(t, nil)
	env.deliver("INBOX", 2)
	flagsOf := func(recent bool) {
		t.Helper()
		cl := dialImapClient(t, env)
		if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		msgs, err := cl.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{Flags: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 2 {
			t.Fatalf("fetched %d messages", len(msgs))
		}
		for _, m := range msgs {
			if slices.Contains(m.Flags, imap.Flag(`\Recent`)) != recent {
				t.Fatalf("message %d: flags %v, want \\Recent %v", m.SeqNum, m.Flags, recent)
			}
		}
	}
	flagsOf(true)
	flagsOf(false)
}
