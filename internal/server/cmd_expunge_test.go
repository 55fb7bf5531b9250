package server

import (
	"context"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func TestExpunge(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 6, store.Flags{})
	c := env.selectInbox()
	before := env.inboxState(1).ModSeq

	// Nothing flagged: nothing happens, and no modseq is used.
	c.send("a EXPUNGE")
	c.expect(`^a OK EXPUNGE completed$`)
	if hm := highestModSeq(t, env); hm != before {
		t.Fatalf("empty EXPUNGE moved HIGHESTMODSEQ %d -> %d", before, hm)
	}

	c.send(`b STORE 2,3,5 +FLAGS.SILENT (\Deleted)`)
	c.expect(`^b OK`)
	// RFC 9051 6.4.3: highest first is fine too, but each number must be
	// valid when read; the view sends them highest first.
	c.send("c EXPUNGE")
	c.expect(`^\* 5 EXPUNGE$`, `^\* 3 EXPUNGE$`, `^\* 2 EXPUNGE$`, `^c OK EXPUNGE completed$`)

	// UID EXPUNGE removes only \Deleted messages inside its set.
	c.send(`d STORE 1:3 +FLAGS.SILENT (\Deleted)`) // UIDs 1, 4, 6
	c.expect(`^d OK`)
	c.send("e UID EXPUNGE 4:6")
	c.expect(`^\* 3 EXPUNGE$`, `^\* 2 EXPUNGE$`, `^e OK UID EXPUNGE completed$`)
	c.send("f UID EXPUNGE 2:3") // already gone: nothing
	c.expect(`^f OK UID EXPUNGE completed$`)
	c.send("g UID EXPUNGE")
	c.expect(`^g BAD `)

	// QRESYNC: VANISHED, and HIGHESTMODSEQ in the tagged OK.
	c.send("q ENABLE QRESYNC")
	c.until("q OK")
	env.appendMessages("INBOX", 2, store.Flags{System: store.FlagDeleted}) // UIDs 7, 8
	c.send("n NOOP")
	c.expect(`^\* 3 EXISTS$`, `^\* 0 RECENT$`, `^n OK`)
	c.send("h UID EXPUNGE 7")
	got := c.expect(`^\* VANISHED 7$`, `^h OK \[HIGHESTMODSEQ (\d+)\] UID EXPUNGE completed$`)
	if hm := highestModSeq(t, env); "h OK [HIGHESTMODSEQ "+itoa(uint32(hm))+"] UID EXPUNGE completed" != got[1] {
		t.Fatalf("tagged %q, store at %d", got[1], hm)
	}
	c.send("i EXPUNGE")
	c.expect(`^\* VANISHED 1,8$`, `^i OK \[HIGHESTMODSEQ \d+\] EXPUNGE completed$`)
	c.send("j EXPUNGE") // nothing expunged: no HIGHESTMODSEQ
	c.expect(`^j OK EXPUNGE completed$`)

	c.send("r EXAMINE INBOX")
	c.until("r OK")
	c.send("r1 EXPUNGE")
	c.expect(`^r1 NO \[READ-ONLY\] `)
	c.send("r2 UID EXPUNGE 1")
	c.expect(`^r2 NO \[READ-ONLY\] `)
}

// TestExpungeSeenByOtherSession: B is told of A's EXPUNGE at its next
// NOOP, and a message B has not been told of is not A's to expunge.
func TestExpungeSeenByOtherSession(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{})
	a, b := env.selectInbox(), env.selectInbox()
	a.send(`a1 STORE 2 +FLAGS.SILENT (\Deleted)`)
	a.expect(`^a1 OK`)
	a.send("a2 EXPUNGE")
	a.expect(`^\* 2 EXPUNGE$`, `^a2 OK`)
	b.send("b1 NOOP")
	b.expect(`^\* 2 EXPUNGE$`, `^b1 OK`)

	// A message delivered \Deleted after A's last sync stays.
	env.appendMessages("INBOX", 1, store.Flags{System: store.FlagDeleted})
	a.send("a3 EXPUNGE")
	a.expect(`^\* 3 EXISTS$`, `^\* 0 RECENT$`, `^a3 OK`)
	a.send("a4 EXPUNGE")
	a.expect(`^\* 3 EXPUNGE$`, `^a4 OK`)
}

func highestModSeq(t *testing.T, env *testEnv) store.ModSeq {
	t.Helper()
	mb, err := env.account().Mailbox(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return mb.HighestModSeq
}
