package server

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// selectInbox logs a new connection in and selects INBOX.
func (e *testEnv) selectInbox() *client {
	c := e.dial()
	c.login()
	c.send("s SELECT INBOX")
	c.until("s OK")
	return c
}

// inboxState reads message uid's flags and modseq straight from the store.
func (e *testEnv) inboxState(uid store.UID) store.MessageState {
	e.t.Helper()
	a := e.account()
	mb, err := a.Mailbox(context.Background(), "INBOX")
	if err != nil {
		e.t.Fatal(err)
	}
	snap, err := a.Snapshot(context.Background(), mb.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range snap.Messages {
		if m.UID == uid {
			return m
		}
	}
	e.t.Fatalf("no message with UID %d", uid)
	return store.MessageState{}
}

func TestStore(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{})
	c := env.selectInbox()

	c.send(`a STORE 1:2 +FLAGS (\Seen)`)
	c.expect(`^\* 1 FETCH \(FLAGS \(\\Seen\)\)$`, `^\* 2 FETCH \(FLAGS \(\\Seen\)\)$`, `^a OK STORE completed$`)
	// Flags already set are still reported: the reply is the new state.
	c.send(`b STORE 1:3 +FLAGS \Seen \answered`)
	c.expect(
		`^\* 1 FETCH \(FLAGS \(\\Seen \\Answered\)\)$`,
		`^\* 2 FETCH \(FLAGS \(\\Seen \\Answered\)\)$`,
		`^\* 3 FETCH \(FLAGS \(\\Seen \\Answered\)\)$`,
		`^b OK STORE completed$`,
	)
	// A new keyword is announced in FLAGS before the FETCH that shows it.
	c.send(`c STORE 2 FLAGS ($Work \Flagged)`)
	c.expect(
		`^\* FLAGS \(\\Seen \\Answered \\Flagged \\Deleted \\Draft \$Work\)$`,
		`^\* OK \[PERMANENTFLAGS \(\\Seen \\Answered \\Flagged \\Deleted \\Draft \$Work \\\*\)\] `,
		`^\* 2 FETCH \(FLAGS \(\\Flagged \$Work\)\)$`,
		`^c OK STORE completed$`,
	)
	// UID STORE includes the UID (RFC 9051 6.4.9).
	c.send(`d UID STORE 3 -FLAGS (\Seen \Answered)`)
	c.expect(`^\* 3 FETCH \(UID 3 FLAGS \(\)\)$`, `^d OK UID STORE completed$`)
	// .SILENT without CONDSTORE: nothing, not even at the sync point; a
	// keyword new to the client is still announced there.
	c.send(`e STORE 3 +FLAGS.SILENT (Later)`)
	c.expect(`^\* FLAGS \(.*\$Work Later\)$`, `^\* OK \[PERMANENTFLAGS `, `^e OK STORE completed$`)
	c.send(`n NOOP`)
	c.expect(`^n OK NOOP completed$`)
	if m := env.inboxState(3); !m.Flags.Has("Later") || m.Flags.System != 0 {
		t.Fatalf("message 3 flags %+v", m.Flags)
	}
	// UIDs above the mailbox's are ignored.
	c.send(`f UID STORE 10:20 +FLAGS (\Seen)`)
	c.expect(`^f OK UID STORE completed$`)

	for _, bad := range []struct{ cmd, want string }{
		{`STORE 1 +FLAGS (\Recent)`, `BAD \[CLIENTBUG\] The \\Recent flag cannot be set`},
		{`STORE 1 +FLAGS (\Frob)`, `BAD Unknown flag \\Frob`},
		{`STORE 1 +FLAGS (\*)`, `BAD Unknown flag \\\*`},
		{`STORE 4 +FLAGS (\Seen)`, `BAD Invalid message sequence number`},
		{`STORE 1 +BODY (\Seen)`, `BAD STORE supports FLAGS, \+FLAGS and -FLAGS`},
		{`STORE 1 (FOO 1) +FLAGS (\Seen)`, `BAD Unknown or repeated STORE modifier FOO`},
		{`STORE 1 +FLAGS (a"b)`, `BAD .*`},
		{`STORE 1 +FLAGS`, `BAD .*`},
	} {
		c.send("x " + bad.cmd)
		c.expect(`^x ` + bad.want + `$`)
	}

	// Read-only: EXAMINE refuses changes (RFC 9051 7.1 READ-ONLY).
	c.send(`r EXAMINE INBOX`)
	c.until("r OK [READ-ONLY]")
	c.send(`r1 STORE 1 +FLAGS (\Deleted)`)
	c.expect(`^r1 NO \[READ-ONLY\] Mailbox is read-only$`)
	if m := env.inboxState(1); m.Flags.System&store.FlagDeleted != 0 {
		t.Fatal("STORE changed a read-only mailbox")
	}
}

// TestStoreCondstore checks RFC 7162 3.1.3: MODSEQ in every STORE reply
// once CONDSTORE is on, .SILENT included, and UNCHANGEDSINCE.
func TestStoreCondstore(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{})
	c := env.selectInbox()
	c.send("e ENABLE CONDSTORE")
	c.until("e OK")

	c.send(`a STORE 1 +FLAGS.SILENT (\Deleted)`)
	got := c.expect(`^\* 1 FETCH \(UID 1 MODSEQ \((\d+)\)\)$`, `^a OK STORE completed$`)
	ms := modseqIn(t, got[0])
	if st := env.inboxState(1); st.ModSeq != ms || st.Flags.System != store.FlagDeleted {
		t.Fatalf("store has %+v, reply said modseq %d", st, ms)
	}
	c.send(`b UID STORE 1:2 +FLAGS.SILENT (\Deleted)`)
	got = c.expect(`^\* 1 FETCH \(UID 1 MODSEQ \(\d+\)\)$`, `^\* 2 FETCH \(UID 2 MODSEQ \(\d+\)\)$`, `^b OK`)
	// Message 1 already had \Deleted: reported with its unchanged modseq.
	if modseqIn(t, got[0]) != ms || modseqIn(t, got[1]) <= ms {
		t.Fatalf("modseqs %q", got)
	}
	c.send(`c STORE 2 -FLAGS (\Deleted)`)
	c.expect(`^\* 2 FETCH \(UID 2 FLAGS \(\) MODSEQ \(\d+\)\)$`, `^c OK`)

	// UNCHANGEDSINCE: message 2 changes elsewhere after the client read
	// its modseq; the STORE applies to 1 and 3 only.
	known := env.inboxState(3).ModSeq
	for _, m := range []store.MessageState{env.inboxState(1), env.inboxState(2)} {
		known = max(known, m.ModSeq)
	}
	a := env.account()
	mb, _ := a.Mailbox(context.Background(), "INBOX")
	if _, err := a.SetFlags(context.Background(), mb.ID, store.UIDSetOf(2), store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0); err != nil {
		t.Fatal(err)
	}
	c.send(fmt.Sprintf(`d STORE 1:3 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\Seen)`, known))
	got = c.expect(
		// The other session's change reaches the client first, so the
		// client can tell why message 2 failed (RFC 7162 3.1.3 Example 10).
		`^\* 2 FETCH \(UID 2 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)$`,
		`^\* 1 FETCH \(UID 1 MODSEQ \(\d+\)\)$`,
		`^\* 3 FETCH \(UID 3 MODSEQ \(\d+\)\)$`,
		`^d OK \[MODIFIED 2\] Conditional STORE failed for some messages$`,
	)
	if st := env.inboxState(2); st.Flags.System&store.FlagSeen != 0 {
		t.Fatal("STORE applied to a message that failed UNCHANGEDSINCE")
	}
	// UID STORE reports UIDs in MODIFIED; UNCHANGEDSINCE 0 always fails.
	c.send(`u UID STORE 2:3 (UNCHANGEDSINCE 0) +FLAGS ($MDNSent)`)
	c.expect(`^u OK \[MODIFIED 2:3\] `)
	if env.inboxState(3).Flags.Has("$MDNSent") {
		t.Fatal("UNCHANGEDSINCE 0 applied")
	}
}

// TestUnchangedSinceEnablesCondstore: a conditional STORE turns on MODSEQ
// in later untagged FETCH responses (RFC 7162 3.1).
func TestUnchangedSinceEnablesCondstore(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 2, store.Flags{})
	c := env.selectInbox()
	c.send(`a STORE 1 +FLAGS (\Seen)`)
	c.expect(`^\* 1 FETCH \(FLAGS \(\\Seen\)\)$`, `^a OK`)
	c.send(`b STORE 2 (UNCHANGEDSINCE 1000) +FLAGS.SILENT (\Seen)`)
	// The first CONDSTORE-enabling command with a mailbox selected
	// reports HIGHESTMODSEQ (RFC 7162 3.1, Example 5).
	c.expect(`^\* OK \[HIGHESTMODSEQ \d+\] `, `^\* 2 FETCH \(UID 2 MODSEQ \(\d+\)\)$`, `^b OK STORE completed$`)
	c.send(`c STORE 1 -FLAGS (\Seen)`)
	c.expect(`^\* 1 FETCH \(UID 1 FLAGS \(\) MODSEQ \(\d+\)\)$`, `^c OK`)
}

// TestStoreSeenByOtherSession: session B learns of A's STORE at its next
// NOOP as FETCH FLAGS; A is not told twice.
func TestStoreSeenByOtherSession(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 2, store.Flags{})
	a, b := env.selectInbox(), env.selectInbox()
	a.send(`a1 STORE 2 +FLAGS (\Flagged)`)
	a.expect(`^\* 2 FETCH \(FLAGS \(\\Flagged\)\)$`, `^a1 OK`)
	b.send("b1 NOOP")
	b.expect(`^\* 2 FETCH \(FLAGS \(\\Flagged\)\)$`, `^b1 OK`)
	a.send("a2 NOOP")
	a.expect(`^a2 OK`)
	// B's own silent change is not echoed to B, but A hears of it.
	b.send(`b2 STORE 1 +FLAGS.SILENT (\Seen)`)
	b.expect(`^b2 OK`)
	b.send("b3 NOOP")
	b.expect(`^b3 OK`)
	a.send("a3 NOOP")
	a.expect(`^\* 1 FETCH \(FLAGS \(\\Seen\)\)$`, `^a3 OK`)
}

// TestStoreUnchangedSinceRace: two sessions keep racing a conditional
// STORE on the same message from the same modseq. Each round exactly one
// wins; the loser gets MODIFIED and its flags are never applied.
func TestStoreUnchangedSinceRace(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 1, store.Flags{})
	conns := []*client{env.selectInbox(), env.selectInbox()}
	for round := 0; round < 20; round++ {
		known := env.inboxState(1).ModSeq
		tagged := make([]string, 2)
		var wg sync.WaitGroup
		for i, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.send(fmt.Sprintf(`r%d UID STORE 1 (UNCHANGEDSINCE %d) FLAGS.SILENT (k%d-%d)`, i, known, i, round))
				for {
					l, err := c.r.ReadString('\n')
					if err != nil {
						return
					}
					if strings.HasPrefix(l, fmt.Sprintf("r%d ", i)) {
						tagged[i] = strings.TrimSpace(l)
						return
					}
				}
			}()
		}
		wg.Wait()
		winners := 0
		winner := -1
		for i, l := range tagged {
			switch {
			case l == fmt.Sprintf("r%d OK UID STORE completed", i):
				winners++
				winner = i
			case l == fmt.Sprintf("r%d OK [MODIFIED 1] Conditional STORE failed for some messages", i):
			default:
				t.Fatalf("round %d: unexpected %q", round, l)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d winners: %q", round, winners, tagged)
		}
		st := env.inboxState(1)
		if want := fmt.Sprintf("k%d-%d", winner, round); len(st.Flags.Keywords) != 1 || st.Flags.Keywords[0] != want {
			t.Fatalf("round %d: flags %v, winner %s", round, st.Flags.Keywords, want)
		}
		for i, c := range conns {
			c.send(fmt.Sprintf("n%d NOOP", i))
			c.until(fmt.Sprintf("n%d OK", i))
		}
	}
}

var modseqRE = regexp.MustCompile(`MODSEQ \((\d+)\)`)

func modseqIn(t *testing.T, line string) store.ModSeq {
	t.Helper()
	m := modseqRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no MODSEQ in %q", line)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return store.ModSeq(n)
}
