package server

import (
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func TestMove(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 5, store.Flags{})
	dst := env.createMailbox("Archive")
	v := itoa(dst.UIDValidity)
	c := env.selectInbox()

	// RFC 9051 6.4.8: COPYUID in an untagged OK before the expunges.
	c.send("a MOVE 2,4 Archive")
	c.expect(
		`^\* OK \[COPYUID `+v+` 2,4 1:2\] Moved$`,
		`^\* 4 EXPUNGE$`,
		`^\* 2 EXPUNGE$`,
		`^a OK MOVE completed$`,
	)
	c.send("b UID MOVE 5 Archive")
	c.expect(`^\* OK \[COPYUID `+v+` 5 3\] Moved$`, `^\* 3 EXPUNGE$`, `^b OK UID MOVE completed$`)
	if in, ar := env.mailboxStatus("INBOX"), env.mailboxStatus("Archive"); in.Messages != 2 || ar.Messages != 3 {
		t.Fatalf("INBOX %d, Archive %d messages", in.Messages, ar.Messages)
	}
	c.send("c MOVE 1 Nowhere")
	c.expect(`^c NO \[TRYCREATE\] No such mailbox$`)
	c.send("d UID MOVE 50 Archive")
	c.expect(`^d OK No messages moved$`)

	// QRESYNC: VANISHED, and HIGHESTMODSEQ in the tagged OK (RFC 6851 4.4).
	c.send("q ENABLE QRESYNC")
	c.until("q OK")
	c.send("e MOVE 1 Archive")
	c.expect(`^\* OK \[COPYUID `+v+` 1 4\] Moved$`, `^\* VANISHED 1$`, `^e OK \[HIGHESTMODSEQ \d+\] MOVE completed$`)

	// Moving within the selected mailbox: expunge, then EXISTS.
	c.send("f MOVE 1 INBOX")
	c.expect(`^\* OK \[COPYUID \d+ 3 6\] Moved$`, `^\* VANISHED 3$`, `^\* 1 EXISTS$`, `^\* 1 RECENT$`, `^f OK \[HIGHESTMODSEQ \d+\] MOVE completed$`)

	c.send("g EXAMINE INBOX")
	c.until("g OK")
	c.send("h MOVE 1 Archive")
	c.expect(`^h NO \[READ-ONLY\] `)
}

// TestMoveSeenByOtherSession: B sees A's MOVE as EXPUNGE in the source
// and, with the destination selected, as EXISTS.
func TestMoveSeenByOtherSession(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 2, store.Flags{})
	env.createMailbox("Archive")
	a, b := env.selectInbox(), env.selectInbox()
	o := env.dial()
	o.login()
	o.send("s SELECT Archive")
	o.until("s OK")
	a.send("a1 MOVE 1 Archive")
	a.until("a1 OK")
	b.send("b1 NOOP")
	b.expect(`^\* 1 EXPUNGE$`, `^b1 OK`)
	o.send("o1 NOOP")
	o.expect(`^\* 1 EXISTS$`, `^\* 1 RECENT$`, `^o1 OK`)
}
