package server

import (
	"context"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// RFC 9586: after ENABLE UIDONLY every use of sequence numbers is BAD
// [UIDREQUIRED], FETCH responses are UIDFETCH keyed by UID (with the UID
// item only when asked for), and expunges are VANISHED.
func TestUIDOnly(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{})
	if _, err := env.account().CreateMailbox(context.Background(), "Archive", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := env.dial()
	c.loginRev2()
	c.send("a CAPABILITY")
	if caps := c.expect(`^\* CAPABILITY `, `^a OK`)[0]; !contains(caps, "UIDONLY") {
		t.Fatalf("UIDONLY not offered: %q", caps)
	}
	c.mbxRun("e ENABLE UIDONLY", "* ENABLED UIDONLY", "e OK ENABLE completed")
	c.send("s SELECT INBOX")
	c.until("s OK")
	for _, cmd := range []string{
		"FETCH 1 FLAGS", "FETCH 1:* UID", "STORE 1 +FLAGS (\\Seen)", "SEARCH ALL", "COPY 1 Archive",
		"MOVE 1 Archive", "UID SEARCH 1", "SORT (DATE) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL", "UID SORT (DATE) UTF-8 2:3", "UID SEARCH OR 2 UID 1", "UID FETCH 1:* FLAGS\r\nx2 REPLACE 1 INBOX {1+}\r\nx",
	} {
		c.send("x " + cmd)
		got := c.until("x")
		if cmd == "UID FETCH 1:* FLAGS\r\nx2 REPLACE 1 INBOX {1+}\r\nx" {
			got = c.until("x2 ")
		}
		if l := got[len(got)-1]; !contains(l, "BAD") || !contains(l, "[UIDREQUIRED]") {
			t.Errorf("%q: %q", cmd, l)
		}
	}
	c.send("n NOOP")
	c.expect(`^n OK NOOP completed$`)

	c.send("f UID FETCH 1:* (FLAGS)")
	c.expect(`^\* 1 UIDFETCH \(FLAGS \(\)\)$`, `^\* 2 UIDFETCH \(FLAGS \(\)\)$`, `^\* 3 UIDFETCH \(FLAGS \(\)\)$`, `^f OK`)
	c.send("g UID FETCH 2 (UID RFC822.SIZE)")
	c.expect(`^\* 2 UIDFETCH \(UID 2 RFC822.SIZE \d+\)$`, `^g OK`)
	c.send("h UID STORE 2 +FLAGS (\\Seen)")
	c.expect(`^\* 2 UIDFETCH \(FLAGS \(\\Seen\)\)$`, `^h OK`)
	c.send("i UID SEARCH UID 2:* UNSEEN")
	c.expect(`^\* ESEARCH \(TAG "i"\) UID ALL 3$`, `^i OK`)

	// Changes by another session: VANISHED, EXISTS, UIDFETCH with MODSEQ
	// (CONDSTORE) but no UID item.
	a := env.account()
	mb, _ := a.Mailbox(context.Background(), "INBOX")
	if _, err := a.Expunge(context.Background(), mb.ID, store.UIDSet{{Start: 1, Stop: 1}}); err != nil {
		t.Fatal(err)
	}
	env.appendMessages("INBOX", 1, store.Flags{})
	c.send("n2 NOOP")
	c.expect(`^\* VANISHED 1$`, `^\* 3 EXISTS$`, `^n2 OK`)
	c.send("e2 ENABLE CONDSTORE")
	c.expect(`^\* ENABLED CONDSTORE$`, `^\* OK \[HIGHESTMODSEQ \d+\] `, `^e2 OK`)
	if _, err := a.SetFlags(context.Background(), mb.ID, store.UIDSet{{Start: 3, Stop: 3}}, store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0); err != nil {
		t.Fatal(err)
	}
	c.send("n3 NOOP")
	c.expect(`^\* 3 UIDFETCH \(FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)$`, `^n3 OK`)
	c.send("m UID MOVE 2 Archive")
	c.expect(`^\* OK \[COPYUID \d+ 2 1\] Moved$`, `^\* VANISHED 2$`, `^m OK`)
	c.send("x UID EXPUNGE 3")
	c.expect(`^x OK`)
	c.send("d UID STORE 3 +FLAGS.SILENT (\\Deleted)")
	// .SILENT under CONDSTORE still reports the new MODSEQ (RFC 7162 3.1.3).
	c.expect(`^\* 3 UIDFETCH \(MODSEQ \(\d+\)\)$`, `^d OK`)
	c.send("y UID EXPUNGE 3")
	c.expect(`^\* VANISHED 3$`, `^y OK`)
}

// RFC 9586 with QRESYNC: seq-match-data in SELECT holds sequence numbers
// and is refused; without it the resync works.
func TestUIDOnlyQresyncSelect(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{})
	c := env.dial()
	c.loginRev2()
	c.send("e ENABLE QRESYNC UIDONLY")
	c.expect(`^\* ENABLED CONDSTORE QRESYNC UIDONLY$`, `^e OK`)
	c.send("s SELECT INBOX")
	lines := c.until("s OK")
	var uidv string
	for _, l := range lines {
		if contains(l, "[UIDVALIDITY") {
			uidv = l[len("* OK [UIDVALIDITY "):]
			uidv = uidv[:len(uidv)-len("] UIDs valid")]
		}
	}
	c.send("q SELECT INBOX (QRESYNC (" + uidv + " 1 1:3 (1,3 1,3)))")
	c.expect(`^q BAD \[UIDREQUIRED\] `)
	c.send("q2 SELECT INBOX (QRESYNC (" + uidv + " 1 1:3))")
	got := c.until("q2 OK")
	want := []string{"* 1 UIDFETCH (FLAGS () MODSEQ (2))", "* 2 UIDFETCH (FLAGS () MODSEQ (2))", "* 3 UIDFETCH (FLAGS () MODSEQ (2))"}
	if len(got) < 4 || strings.Join(got[len(got)-4:len(got)-1], "|") != strings.Join(want, "|") {
		t.Fatalf("QRESYNC select under UIDONLY: %q", got)
	}
}
