package server

import (
	"context"
	"regexp"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func TestPartialWindow(t *testing.T) {
	for _, c := range []struct {
		p        partialRange
		n        int
		from, to int
	}{
		{partialRange{lo: 1, hi: 500}, 1000, 0, 500},
		{partialRange{lo: 501, hi: 1000}, 700, 500, 700},
		{partialRange{lo: 800, hi: 900}, 700, 0, 0},
		{partialRange{lo: 1, hi: 100, last: true}, 1000, 900, 1000},
		{partialRange{lo: 1, hi: 100, last: true}, 30, 0, 30},
		{partialRange{lo: 2, hi: 3, last: true}, 10, 7, 9},
		{partialRange{lo: 50, hi: 60, last: true}, 10, 0, 0},
		{partialRange{lo: 1, hi: 1}, 0, 0, 0},
	} {
		if f, to := c.p.window(c.n); f != c.from || to != c.to {
			t.Errorf("%s over %d: [%d,%d), want [%d,%d)", c.p, c.n, f, to, c.from, c.to)
		}
	}
}

// partialEnv: ten messages, UIDs 1..10 with 3 and 7 expunged (sequence
// numbers 1..8), 2 4 6 8 10 flagged.
func partialEnv(t *testing.T) *client {
	t.Helper()
	return partialEnvIn(t, nil)
}

// partialEnvIn is partialEnv, also handing out the environment.
func partialEnvIn(t *testing.T, out **testEnv) *client {
	t.Helper()
	env := newTestEnv(t, nil)
	if out != nil {
		*out = env
	}
	env.appendMessages("INBOX", 10, store.Flags{})
	a := env.account()
	ctx := context.Background()
	mb, _ := a.Mailbox(ctx, "INBOX")
	var gone, flagged store.UIDSet
	gone.Add(3)
	gone.Add(7)
	for _, u := range []store.UID{2, 4, 6, 8, 10} {
		flagged.Add(u)
	}
	if _, err := a.Expunge(ctx, mb.ID, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetFlags(ctx, mb.ID, flagged, store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0); err != nil {
		t.Fatal(err)
	}
	c := env.dial()
	c.login()
	c.send("s SELECT INBOX")
	c.until("s OK")
	return c
}

func TestSearchPartial(t *testing.T) {
	c := partialEnv(t)
	c.send("A01 UID SEARCH RETURN (PARTIAL -1:-3) ALL")
	c.expect(`^\* ESEARCH \(TAG "A01"\) UID PARTIAL \(-1:-3 8:10\)$`, `^A01 OK`)
	c.send("A02 UID SEARCH RETURN (PARTIAL 3:100) UNFLAGGED")
	c.expect(`^\* ESEARCH \(TAG "A02"\) UID PARTIAL \(3:100 9\)$`, `^A02 OK`)
	c.send("A03 SEARCH RETURN (PARTIAL 2:1 COUNT) ALL") // 2:1 is 1:2
	c.expect(`^\* ESEARCH \(TAG "A03"\) PARTIAL \(1:2 1:2\) COUNT 8$`, `^A03 OK`)
	c.send("A04 UID SEARCH RETURN (PARTIAL 24000:24500) ALL")
	c.expect(`^\* ESEARCH \(TAG "A04"\) UID PARTIAL \(24000:24500 NIL\)$`, `^A04 OK`)
	c.send("A05 UID SEARCH RETURN (MIN PARTIAL 2:3 SAVE) FLAGGED")
	c.expect(`^\* ESEARCH \(TAG "A05"\) UID MIN 2 PARTIAL \(2:3 4,6\)$`, `^A05 OK`)
	c.send("A06 UID SEARCH $") // RFC 9394 table 1: PARTIAL & MIN
	c.expect(`^\* SEARCH 2 4 6$`, `^A06 OK`)
	c.send("B1 SEARCH RETURN (PARTIAL 1:5 ALL) ALL")
	c.expect(`^B1 BAD .*`)
	c.send("B2 SEARCH RETURN (PARTIAL 0:5) ALL")
	c.expect(`^B2 BAD .*`)
	c.send("B3 SEARCH RETURN (PARTIAL -1:5) ALL")
	c.expect(`^B3 BAD .*`)
	c.send("B4 SEARCH RETURN (PARTIAL 1:*) ALL")
	c.expect(`^B4 BAD .*`)
}

func TestSortPartial(t *testing.T) {
	c := partialEnv(t)
	// Subjects m0..m9: REVERSE SUBJECT is UID 10 9 8 6 5 4 2 1.
	c.send("S1 UID SORT RETURN (PARTIAL 2:4) (REVERSE SUBJECT) UTF-8 ALL")
	c.expect(`^\* ESEARCH \(TAG "S1"\) UID PARTIAL \(2:4 9,8,6\)$`, `^S1 OK`)
	c.send("S2 SORT RETURN (PARTIAL -1:-2 COUNT) (REVERSE SUBJECT) UTF-8 ALL")
	c.expect(`^\* ESEARCH \(TAG "S2"\) PARTIAL \(-1:-2 2,1\) COUNT 8$`, `^S2 OK`)
	c.send("S3 SORT RETURN (PARTIAL 9:10) (SUBJECT) UTF-8 ALL")
	c.expect(`^\* ESEARCH \(TAG "S3"\) PARTIAL \(9:10 NIL\)$`, `^S3 OK`)
}

func TestFetchPartial(t *testing.T) {
	c := partialEnv(t)
	// RFC 9394 3.3: the last three, then the first two, of a UID range
	// with holes.
	c.send("10 UID FETCH 2:9 (FLAGS) (PARTIAL -1:-3)")
	c.expect(`^\* 5 FETCH \(UID 6 FLAGS \(\\Flagged\)\)$`, `^\* 6 FETCH \(UID 8 FLAGS \(\\Flagged\)\)$`,
		`^\* 7 FETCH \(UID 9 FLAGS \(\)\)$`, `^10 OK`)
	c.send("11 UID FETCH 1:* (RFC822.SIZE) (PARTIAL 1:2)")
	c.expect(`^\* 1 FETCH \(UID 1 RFC822.SIZE \d+\)$`, `^\* 2 FETCH \(UID 2 RFC822.SIZE \d+\)$`, `^11 OK`)
	c.send("12 FETCH 1:* (UID) (PARTIAL 8:9)")
	c.expect(`^\* 8 FETCH \(UID 10\)$`, `^12 OK`)
	c.send("13 UID FETCH 1:* (FLAGS) (PARTIAL 20:30)")
	c.expect(`^13 OK`)
	// RFC 9394 3.4: the window first, CHANGEDSINCE within it: of the
	// two messages changed (UIDs 1 and 9) only 9 is among the last three.
	c.send("e ENABLE CONDSTORE")
	l := c.expect(`^\* ENABLED CONDSTORE$`, `^\* OK \[HIGHESTMODSEQ \d+\].*`, `^e OK`)[1]
	h := regexp.MustCompile(`\d+`).FindString(l)
	c.send(`14 UID STORE 1 +FLAGS.SILENT (\Seen)`)
	c.until("14 OK")
	c.send(`15 UID STORE 9 +FLAGS.SILENT (\Seen)`)
	c.until("15 OK")
	c.send("17 UID FETCH 1:* (FLAGS) (PARTIAL -1:-3 CHANGEDSINCE " + h + ")")
	c.expect(`^\* 7 FETCH \(UID 9 MODSEQ \(\d+\) FLAGS \(\\Seen\)\)$`, `^17 OK`)
	c.send("18 UID FETCH 1:* (FLAGS) (PARTIAL 1:1 PARTIAL 2:2)")
	c.expect(`^18 BAD .*`)
}
