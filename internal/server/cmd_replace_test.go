package server

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/quota"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// rfc8508Draft is the message of RFC 8508 3.2's example.
const rfc8508Draft = "Date: Thu, 1 Jan 2015 00:05:00 -0500 (EST)\r\n" +
	"From: Fritz Schmidt <fritz.ze@example.org>\r\n" +
	"Subject: happy new year !!\r\n" +
	"To: miss.mitzy@example.org\r\n" +
	"Message-Id: <B238822388-0100000@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n" +
	"\r\n" +
	"Just saw the best fireworks show. Wish you were here.\r\n"

// replaceEnv is a server whose Drafts holds four messages, and a client
// logged in (IMAP4rev2, so no \Recent) with Drafts selected.
func replaceEnv(t *testing.T, tweak func(*Config)) (*testEnv, *client, uint32) {
	t.Helper()
	env := newTestEnv(t, tweak)
	a := env.account()
	mb, err := a.CreateMailbox(context.Background(), "Drafts", store.CreateOptions{SpecialUse: `\Drafts`})
	if err != nil {
		t.Fatal(err)
	}
	env.appendMessages("Drafts", 4, store.Flags{System: store.FlagDraft})
	c := env.dial()
	c.loginRev2()
	c.send("s SELECT Drafts")
	c.until("s OK")
	return env, c, mb.UIDValidity
}

// RFC 8508 3.2 and 3.3: the examples, REPLACE then UID REPLACE, with the
// APPENDUID in an untagged OK before EXISTS and EXPUNGE. A second session
// learns the same change at its next sync point.
func TestReplaceRFCExamples(t *testing.T) {
	env, c, uidv := replaceEnv(t, nil)
	other := env.dial()
	other.loginRev2()
	other.send("o SELECT Drafts")
	other.until("o OK")

	c.send(fmt.Sprintf(`A003 REPLACE 4 Drafts (\Seen \Draft) {%d}`, len(rfc8508Draft)))
	c.expect(`^\+ `)
	c.send(rfc8508Draft)
	c.expect(fmt.Sprintf(`^\* OK \[APPENDUID %d 5\] Replacement Message ready$`, uidv),
		`^\* 4 EXPUNGE$`, `^\* 4 EXISTS$`, `^A003 OK REPLACE completed$`)
	second := strings.Replace(rfc8508Draft, "Wish you were here.\r\n", "Wish you were here.\r\nHopefully next year you can join us.\r\n", 1)
	c.send(fmt.Sprintf(`A004 UID REPLACE 5 Drafts (\Seen \Draft) {%d}`, len(second)))
	c.expect(`^\+ `)
	c.send(second)
	c.expect(fmt.Sprintf(`^\* OK \[APPENDUID %d 6\] Replacement Message ready$`, uidv),
		`^\* 4 EXPUNGE$`, `^\* 4 EXISTS$`, `^A004 OK UID REPLACE completed$`)
	c.send(`f UID FETCH 1:* (FLAGS RFC822.SIZE)`)
	c.expect(`^\* 1 FETCH \(UID 1 FLAGS \(\\Draft\) RFC822.SIZE \d+\)$`,
		`^\* 2 FETCH \(UID 2 `, `^\* 3 FETCH \(UID 3 `,
		fmt.Sprintf(`^\* 4 FETCH \(UID 6 FLAGS \(\\Seen \\Draft\) RFC822.SIZE %d\)$`, len(second)),
		`^f OK`)

	other.send("n NOOP")
	got := other.until("n OK")
	if strings.Join(got, "|") != "* 4 EXPUNGE|* 4 EXISTS|n OK NOOP completed" {
		t.Fatalf("other session: %q", got)
	}
}

// REPLACE into another mailbox (a draft sent: Drafts to Sent), the
// selected mailbox losing the draft and the other gaining the message.
func TestReplaceIntoOtherMailbox(t *testing.T) {
	env, c, _ := replaceEnv(t, nil)
	sent, err := env.account().CreateMailbox(context.Background(), "Sent", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.send(fmt.Sprintf("r UID REPLACE 2 Sent {%d+}\r\n%s", len(rfc8508Draft), rfc8508Draft))
	c.expect(fmt.Sprintf(`^\* OK \[APPENDUID %d 1\] Replacement Message ready$`, sent.UIDValidity),
		`^\* 2 EXPUNGE$`, `^r OK UID REPLACE completed$`)
	c.send("t STATUS Sent (MESSAGES UIDNEXT)")
	c.expect(`^\* STATUS Sent \(MESSAGES 1 UIDNEXT 2\)$`, `^t OK`)
}

// Error paths: each refusal leaves both mailboxes as they were, and the
// ones known before the message is sent come before the continuation.
func TestReplaceErrors(t *testing.T) {
	env, c, _ := replaceEnv(t, func(c *Config) { c.Limits.MaxAppendLiteral = 1000 })
	msg := rfc8508Draft
	c.send(fmt.Sprintf("a REPLACE 1 Nowhere {%d}", len(msg)))
	c.expect(`^a NO \[TRYCREATE\] No such mailbox$`)
	c.send(fmt.Sprintf("b REPLACE 9 Drafts {%d}", len(msg)))
	c.expect(`^b BAD Invalid message sequence number$`)
	c.send(fmt.Sprintf("c UID REPLACE 99 Drafts {%d}", len(msg)))
	c.expect(`^c NO \[NONEXISTENT\] No message with that UID$`)
	c.send("d REPLACE 1 Drafts {2000}")
	c.expect(`^d NO \[TOOBIG\] `)
	c.send("e REPLACE 1 Drafts {0}")
	c.expect(`^\+ `)
	c.send("")
	c.expect(`^e NO Empty messages cannot be appended$`)
	c.send("f REPLACE 1 Drafts (\\Bogus) {5}")
	c.expect(`^f BAD `)
	// Expunged by another session, not yet reported here.
	a := env.account()
	mb, _ := a.Mailbox(context.Background(), "Drafts")
	if _, err := a.Expunge(context.Background(), mb.ID, store.UIDSet{{Start: 1, Stop: 1}}); err != nil {
		t.Fatal(err)
	}
	c.send(fmt.Sprintf("g REPLACE 1 Drafts {%d}", len(msg)))
	// The refusal comes with the expunge (REPLACE may report expunges).
	c.expect(`^\* 1 EXPUNGE$`, `^g NO \[EXPUNGEISSUED\] The message was expunged$`)
	c.send("h STATUS Drafts (MESSAGES UIDNEXT)")
	c.expect(`^\* STATUS Drafts \(MESSAGES 3 UIDNEXT 5\)$`, `^h OK`)
	c.send("x EXAMINE Drafts")
	c.until("x OK")
	c.send(fmt.Sprintf("i REPLACE 1 Drafts {%d}", len(msg)))
	c.expect(`^i NO \[READ-ONLY\] Mailbox is read-only$`)
	c.send("u UNSELECT")
	c.expect(`^u OK`)
	c.send(fmt.Sprintf("j REPLACE 1 Drafts {%d}", len(msg)))
	c.expect(`^j BAD REPLACE is not valid in the authenticated state$`)
	c.send(fmt.Sprintf("k UID REPLACE 1 Drafts {%d}", len(msg)))
	c.expect(`^k BAD UID REPLACE is not valid in the authenticated state$`)
}

// RFC 8508 3.4: quota is judged on the net change, so a replacement no
// larger than the message it replaces fits a full quota, and a larger one
// that does not fit is refused before its bytes are sent.
func TestReplaceQuota(t *testing.T) {
	env, _ := newQuotaEnv(t, quota.Limits{Messages: 2})
	env.appendMessages("INBOX", 2, store.Flags{})
	c := env.dial()
	c.loginRev2()
	c.send("s SELECT INBOX")
	c.until("s OK")
	c.send(fmt.Sprintf("a APPEND INBOX {%d}", len(rfc8508Draft)))
	c.expect(`^a NO \[OVERQUOTA\] `)
	c.send(fmt.Sprintf("r REPLACE 1 INBOX {%d}", len(rfc8508Draft)))
	c.expect(`^\+ `)
	c.send(rfc8508Draft)
	c.expect(`^\* OK \[APPENDUID \d+ 3\] `, `^\* 1 EXPUNGE$`, `^\* 2 EXISTS$`, `^r OK`)

	env2, _ := newQuotaEnv(t, quota.Limits{StorageBytes: 200})
	env2.appendMessages("INBOX", 1, store.Flags{})
	c2 := env2.dial()
	c2.loginRev2()
	c2.send("s SELECT INBOX")
	c2.until("s OK")
	c2.send(fmt.Sprintf("r REPLACE 1 INBOX {%d}", len(rfc8508Draft)))
	c2.expect(`^r NO \[OVERQUOTA\] `)
	c2.send("f FETCH 1 UID")
	c2.expect(`^\* 1 FETCH \(UID 1\)$`, `^f OK`)
}

// RFC 8508 4.5 with RFC 7162: under QRESYNC the replaced message is
// reported by VANISHED, and the tagged OK carries HIGHESTMODSEQ.
func TestReplaceQresync(t *testing.T) {
	_, c, _ := replaceEnv(t, nil)
	c.send("q ENABLE QRESYNC")
	c.until("q OK")
	c.send(fmt.Sprintf("r UID REPLACE 3 Drafts {%d+}\r\n%s", len(rfc8508Draft), rfc8508Draft))
	got := c.expect(`^\* OK \[APPENDUID \d+ 5\] Replacement Message ready$`,
		`^\* VANISHED 3$`, `^\* 4 EXISTS$`, `^r OK \[HIGHESTMODSEQ (\d+)\] UID REPLACE completed$`)
	c.send("f UID FETCH 5 (MODSEQ)")
	ms := strings.TrimSuffix(strings.SplitN(got[3], "HIGHESTMODSEQ ", 2)[1], "] UID REPLACE completed")
	c.expect(`^\* 4 FETCH \(UID 5 MODSEQ \(`+ms+`\)\)$`, `^f OK`)
}
