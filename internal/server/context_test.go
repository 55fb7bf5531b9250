package server

import (
	"context"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestSearchUpdate: RFC 5267 4.3, a UID SEARCH kept current through
// flag changes by this session and another, an expunge and an append.
func TestSearchUpdate(t *testing.T) {
	env, c := partialEnvWith(t)
	c.send("B01 UID SEARCH RETURN (UPDATE COUNT) FLAGGED")
	c.expect(`^\* ESEARCH \(TAG "B01"\) UID COUNT 5$`, `^B01 OK`)
	c.send("B01 UID SORT RETURN (UPDATE) (SUBJECT) UTF-8 ALL")
	c.expect(`^B01 BAD .*`) // tag reuse
	// This session flags UID 1 (sequence 1).
	c.send(`s1 STORE 1 +FLAGS.SILENT (\Flagged)`)
	c.expect(`^\* ESEARCH \(TAG "B01"\) UID ADDTO \(0 1\)$`, `^s1 OK`)
	// Another session unflags 4 and expunges 8.
	o := env.dial()
	o.login()
	o.send("o1 SELECT INBOX")
	o.until("o1 OK")
	o.send(`o2 UID STORE 4 -FLAGS.SILENT (\Flagged)`)
	o.until("o2 OK")
	o.send(`o3 UID STORE 8 +FLAGS.SILENT (\Deleted)`)
	o.until("o3 OK")
	o.send("o4 EXPUNGE")
	o.until("o4 OK")
	c.send("n1 NOOP")
	l := c.until("n1 OK")
	if !hasLine(l, `* ESEARCH (TAG "B01") UID REMOVEFROM (0 4,8)`) {
		t.Errorf("NOOP after another session's changes: %q", l)
	}
	// A new flagged message: ADDTO after its EXISTS.
	a := env.account()
	mb, _ := a.Mailbox(context.Background(), "INBOX")
	if _, err := a.Append(context.Background(), mb.ID, []store.NewMessage{{
		Body: strings.NewReader("Subject: m10\r\n\r\nx\r\n"), Flags: store.Flags{System: store.FlagFlagged}}}); err != nil {
		t.Fatal(err)
	}
	c.send("n2 NOOP")
	l = c.until("n2 OK")
	if !hasLine(l, "* 8 EXISTS") || !hasLine(l, `* ESEARCH (TAG "B01") UID ADDTO (0 11)`) || index(l, "* 8 EXISTS") > index(l, `* ESEARCH (TAG "B01") UID ADDTO (0 11)`) {
		t.Errorf("NOOP after an append: %q", l)
	}
	// CANCELUPDATE: no more updates; the tag may be used again.
	c.send(`c1 CANCELUPDATE "B01"`)
	c.expect(`^c1 OK .*`)
	c.send(`s2 UID STORE 2 -FLAGS.SILENT (\Flagged)`)
	c.expect(`^s2 OK`)
	c.send(`c2 CANCELUPDATE "B01"`)
	c.expect(`^c2 BAD .*`)
	c.send("B01 UID SEARCH RETURN (UPDATE) FLAGGED")
	c.expect(`^\* ESEARCH \(TAG "B01"\) UID ALL 1,6,10:11$`, `^B01 OK`)
	// A sequence-number context is kept too (TestSeqContextUpdate).
	c.send("B02 SEARCH RETURN (UPDATE CONTEXT COUNT) FLAGGED")
	c.expect(`^\* ESEARCH \(TAG "B02"\) COUNT 4$`, `^B02 OK`)
	// A new selection ends the contexts.
	c.send("e EXAMINE INBOX")
	c.until("e OK")
	c.send(`c3 CANCELUPDATE "B01"`)
	c.expect(`^c3 BAD .*`)
}

// TestSortUpdate: a UID SORT context, whose updates carry positions in
// the sort order (RFC 5267 4.3.3, 4.3.4).
func TestSortUpdate(t *testing.T) {
	_, c := partialEnvWith(t)
	// Subjects m0..m9 are UIDs 1..10; REVERSE SUBJECT of the flagged
	// ones: 10 8 6 4 2.
	c.send("S1 UID SORT RETURN (UPDATE) (REVERSE SUBJECT) UTF-8 FLAGGED")
	c.expect(`^\* ESEARCH \(TAG "S1"\) UID ALL 10,8,6,4,2$`, `^S1 OK`)
	c.send(`s1 UID STORE 9,5 +FLAGS.SILENT (\Flagged)`)
	c.expect(`^\* ESEARCH \(TAG "S1"\) UID ADDTO \(2 9 5 5\)$`, `^s1 OK`)
	// Now 10 9 8 6 5 4 2: remove 8 and 6 (positions 3, then 3), and 2.
	c.send(`s2 UID STORE 8,6,2 -FLAGS.SILENT (\Flagged)`)
	c.expect(`^\* ESEARCH \(TAG "S1"\) UID REMOVEFROM \(3 8,6 5 2\)$`, `^s2 OK`)
	c.send("S2 UID SORT RETURN (COUNT ALL) (REVERSE SUBJECT) UTF-8 FLAGGED")
	c.expect(`^\* ESEARCH \(TAG "S2"\) UID ALL 10,9,5,4 COUNT 4$`, `^S2 OK`)
}

// partialEnvWith is partialEnv returning the environment too.
func partialEnvWith(t *testing.T) (*testEnv, *client) {
	t.Helper()
	var env *testEnv
	c := partialEnvIn(t, &env)
	return env, c
}

func hasLine(lines []string, s string) bool { return index(lines, s) >= 0 }

func index(lines []string, s string) int {
	for i, l := range lines {
		if l == s {
			return i
		}
	}
	return -1
}

// TestSeqContextUpdate: contexts in sequence numbers (RFC 5267 4.3.3,
// 4.3.4): an expunged result's REMOVEFROM comes just before its EXPUNGE,
// numbered as it is; other changes come after the sync's updates, in the
// numbers they leave, an addition after its EXISTS; a SORT context names
// positions in its order; under QRESYNC the context is refused.
func TestSeqContextUpdate(t *testing.T) {
	env, c := partialEnvWith(t)
	// UIDs 1 2 4 5 6 8 9 10 are sequence numbers 1-8; 2 4 6 8 10 flagged.
	c.send("B1 SEARCH RETURN (UPDATE) FLAGGED")
	c.expect(`^\* ESEARCH \(TAG "B1"\) ALL 2:3,5:6,8$`, `^B1 OK`)
	// UID u has the subject m(u-1): m9 m7 m5 m3 m1 in reverse order.
	c.send("B2 SORT RETURN (UPDATE) (REVERSE SUBJECT) UTF-8 FLAGGED")
	c.expect(`^\* ESEARCH \(TAG "B2"\) ALL 8,6,5,3,2$`, `^B2 OK`)
	o := env.dial()
	o.login()
	o.send("o1 SELECT INBOX")
	o.until("o1 OK")
	o.send(`o2 UID STORE 4:5 +FLAGS.SILENT (\Deleted)`)
	o.until("o2 OK")
	o.send(`o3 UID STORE 9 +FLAGS.SILENT (\Flagged)`)
	o.until("o3 OK")
	o.send("o4 EXPUNGE")
	o.until("o4 OK")
	c.send("n1 NOOP")
	l := c.until("n1 OK")
	// UID 5 (4, not a result) goes first, then UID 4 (3, in both results:
	// position 4 of the sort order).
	want := []string{
		"* 4 EXPUNGE",
		`* ESEARCH (TAG "B1") REMOVEFROM (0 3)`,
		`* ESEARCH (TAG "B2") REMOVEFROM (4 3)`,
		"* 3 EXPUNGE",
	}
	at := index(l, want[0])
	for i, w := range want {
		if at < 0 || index(l, w) != at+i {
			t.Fatalf("NOOP after expunges: want %q in order, got %q", want, l)
		}
	}
	// UID 9 is now 5; its subject m8 comes second in the sort order.
	if !hasLine(l, `* ESEARCH (TAG "B1") ADDTO (0 5)`) || !hasLine(l, `* ESEARCH (TAG "B2") ADDTO (2 5)`) ||
		index(l, `* ESEARCH (TAG "B1") ADDTO (0 5)`) < index(l, "* 3 EXPUNGE") {
		t.Errorf("NOOP after a flag change: %q", l)
	}
	a := env.account()
	mb, _ := a.Mailbox(context.Background(), "INBOX")
	if _, err := a.Append(context.Background(), mb.ID, []store.NewMessage{{
		Body: strings.NewReader("Subject: m11\r\n\r\nx\r\n"), Flags: store.Flags{System: store.FlagFlagged}}}); err != nil {
		t.Fatal(err)
	}
	c.send("n2 NOOP")
	l = c.until("n2 OK")
	if !hasLine(l, "* 7 EXISTS") || index(l, `* ESEARCH (TAG "B1") ADDTO (0 7)`) < index(l, "* 7 EXISTS") ||
		index(l, `* ESEARCH (TAG "B2") ADDTO (5 7)`) < index(l, "* 7 EXISTS") {
		t.Errorf("NOOP after an append: %q", l)
	}
	// What the client made of the updates is what a new search answers:
	// B1 2:7 (UIDs 2 6 8 9 10 11), B2 m9 m8 m7 m5 m11 m1.
	c.send("s1 SEARCH RETURN (ALL) FLAGGED")
	c.expect(`^\* ESEARCH \(TAG "s1"\) ALL 2:7$`, `^s1 OK`)
	c.send("s2 SORT RETURN (ALL) (REVERSE SUBJECT) UTF-8 FLAGGED")
	c.expect(`^\* ESEARCH \(TAG "s2"\) ALL 6,5,4,3,7,2$`, `^s2 OK`)

	q := env.dial()
	q.login()
	q.send("q1 ENABLE QRESYNC")
	q.until("q1 OK")
	q.send("q2 SELECT INBOX")
	q.until("q2 OK")
	q.send("q3 SEARCH RETURN (UPDATE COUNT) FLAGGED")
	q.expect(`^\* ESEARCH \(TAG "q3"\) COUNT \d+$`, `^\* NO \[NOUPDATE "q3"\] .*`, `^q3 OK`)
}

// TestContextLimit: past maxContexts, UPDATE is refused with NOUPDATE and
// the search still answered.
func TestContextLimit(t *testing.T) {
	_, c := partialEnvWith(t)
	for i := 0; i < maxContexts; i++ {
		tag := "U" + strings.Repeat("x", i)
		c.send(tag + " UID SEARCH RETURN (UPDATE COUNT) FLAGGED")
		c.expect(`^\* ESEARCH \(TAG "`+tag+`"\) UID COUNT 5$`, `^`+tag+` OK`)
	}
	c.send("V UID SEARCH RETURN (UPDATE COUNT) FLAGGED")
	c.expect(`^\* ESEARCH \(TAG "V"\) UID COUNT 5$`, `^\* NO \[NOUPDATE "V"\] Too many contexts$`, `^V OK`)
	c.send(`c CANCELUPDATE "U" "Ux"`)
	c.expect(`^c OK`)
	c.send("W UID SEARCH RETURN (UPDATE COUNT) FLAGGED")
	c.expect(`^\* ESEARCH \(TAG "W"\) UID COUNT 5$`, `^W OK`)
}
