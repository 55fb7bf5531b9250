package server

import (
	"context"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func TestSelectExamine(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 2, store.Flags{System: store.FlagSeen})
	env.appendMessages("INBOX", 1, store.Flags{Keywords: []string{"$Junk"}})
	if _, err := env.account().CreateMailbox(context.Background(), "Entwürfe", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := env.dial()
	c.login()
	c.send("s1 SELECT inbox")
	c.expect(
		`^\* FLAGS \(\\Seen \\Answered \\Flagged \\Deleted \\Draft \$Junk\)$`,
		`^\* OK \[PERMANENTFLAGS \(\\Seen \\Answered \\Flagged \\Deleted \\Draft \$Junk \\\*\)\] `,
		`^\* 3 EXISTS$`,
		`^\* 0 RECENT$`,
		`^\* OK \[UNSEEN 3\] `,
		`^\* OK \[UIDVALIDITY \d+\] `,
		`^\* OK \[UIDNEXT 4\] `,
		`^\* OK \[HIGHESTMODSEQ \d+\] `,
		`^\* OK \[MAILBOXID \(M[0-9a-f]{24}\)\] `,
		`^\* OK \[URLMECH INTERNAL\] `, // RFC 4467 3
		`^s1 OK \[READ-WRITE\] SELECT completed$`,
	)
	// Switching mailboxes reports CLOSED first (RFC 9051 6.3.2); IMAP4rev1
	// clients name the mailbox in modified UTF-7.
	c.send("s2 EXAMINE Entw&APw-rfe")
	lines := c.until("s2 ")
	if lines[0] != "* OK [CLOSED] Previous mailbox closed" {
		t.Fatalf("first line %q", lines[0])
	}
	if last := lines[len(lines)-1]; last != "s2 OK [READ-ONLY] EXAMINE completed" {
		t.Fatalf("tagged %q", last)
	}
	c.send("s3 SELECT nosuch")
	c.expect(`^\* OK \[CLOSED\] `, `^s3 NO \[NONEXISTENT\] No such mailbox$`)
	// A failed SELECT leaves no mailbox selected.
	c.send("s4 CLOSE")
	c.expect(`^s4 BAD CLOSE is not valid in the authenticated state$`)
	c.send("s5 SELECT INBOX (FOO)")
	c.expect(`^s5 BAD Unknown select parameter FOO$`)
}

// TestSyncBetweenSessions checks what a selected session is told, and
// when, about another writer's changes.
func TestSyncBetweenSessions(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{})
	c := env.dial()
	c.login()
	c.send("s SELECT INBOX")
	c.until("s OK")

	other := env.account()
	mb, _ := other.Mailbox(context.Background(), "INBOX")
	if _, err := other.SetFlags(context.Background(), mb.ID, store.UIDSetOf(2), store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Expunge(context.Background(), mb.ID, store.UIDSetOf(1)); err != nil {
		t.Fatal(err)
	}
	env.appendMessages("INBOX", 1, store.Flags{})
	c.send("n NOOP")
	c.expect(
		`^\* 1 EXPUNGE$`,
		`^\* 3 EXISTS$`,
		`^\* 0 RECENT$`,
		`^\* 1 FETCH \(FLAGS \(\\Flagged\)\)$`,
		`^n OK NOOP completed$`,
	)
	c.send("n2 NOOP")
	c.expect(`^n2 OK NOOP completed$`)

	// With CONDSTORE and QRESYNC enabled: MODSEQ in FETCH, VANISHED
	// instead of EXPUNGE.
	c.send("e ENABLE QRESYNC")
	c.expect(`^\* ENABLED CONDSTORE QRESYNC$`, `^\* OK \[HIGHESTMODSEQ \d+\] `, `^e OK`)
	if _, err := other.Expunge(context.Background(), mb.ID, store.UIDSetOf(3)); err != nil {
		t.Fatal(err)
	}
	if _, err := other.SetFlags(context.Background(), mb.ID, store.UIDSetOf(2), store.FlagsAdd, store.Flags{Keywords: []string{"work"}}, 0); err != nil {
		t.Fatal(err)
	}
	c.send("n3 NOOP")
	c.expect(
		`^\* VANISHED 3$`,
		`^\* FLAGS \(\\Seen \\Answered \\Flagged \\Deleted \\Draft work\)$`,
		`^\* OK \[PERMANENTFLAGS .*work \\\*\)\] `,
		`^\* 1 FETCH \(UID 2 FLAGS \(\\Flagged work\) MODSEQ \(\d+\)\)$`,
		`^n3 OK NOOP completed$`,
	)
}

func TestQresyncSelect(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 4, store.Flags{})
	a := env.account()
	mb, _ := a.Mailbox(context.Background(), "INBOX")
	if _, err := a.Expunge(context.Background(), mb.ID, store.UIDSetOf(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetFlags(context.Background(), mb.ID, store.UIDSetOf(4), store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0); err != nil {
		t.Fatal(err)
	}
	c := env.dial()
	c.login()
	c.send("e ENABLE QRESYNC")
	c.until("e OK")
	c.send("s SELECT INBOX (QRESYNC (" + itoa(mb.UIDValidity) + " " + itoa(uint32(mb.HighestModSeq)) + "))")
	lines := c.until("s ")
	var sawVanished, sawFetch bool
	for _, l := range lines {
		switch l {
		case "* VANISHED (EARLIER) 2":
			sawVanished = true
		case `* 3 FETCH (UID 4 FLAGS (\Seen) MODSEQ (` + itoa(uint32(mb.HighestModSeq)+2) + "))":
			sawFetch = true
		}
	}
	if !sawVanished || !sawFetch || lines[len(lines)-1] != "s OK [READ-WRITE] SELECT completed" {
		t.Fatalf("QRESYNC select: %q", lines)
	}
}

func itoa(n uint32) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

// TestMailboxIDKeptByRename: MAILBOXID is the store's replicated id, and a
// RENAME keeps it (RFC 8474 4.1); a new mailbox under the old name gets
// another.
func TestMailboxIDKeptByRename(t *testing.T) {
	env := newTestEnv(t, nil)
	mb, err := env.account().CreateMailbox(context.Background(), "a", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := env.dial()
	c.login()
	c.send("s1 SELECT a")
	c.expect(`^\* `, `^\* `, `^\* `, `^\* `, `^\* `, `^\* `, `^\* `, `^\* OK \[MAILBOXID \(`+mb.GUID+`\)\] `, `^\* OK \[URLMECH `, `^s1 OK `)
	c.send("s2 RENAME a b")
	c.until("s2 OK")
	c.send("s3 STATUS b (MAILBOXID)")
	c.expect(`^\* STATUS b \(MAILBOXID \(`+mb.GUID+`\)\)$`, `^s3 OK `)
	c.send("s4 CREATE a")
	c.until("s4 OK")
	c.send("s5 STATUS a (MAILBOXID)")
	lines := c.until("s5 ")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "* STATUS a (MAILBOXID (M") || strings.Contains(lines[0], mb.GUID) {
		t.Fatalf("new mailbox under the old name: %q", lines)
	}
}
