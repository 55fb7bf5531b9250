package server

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Tests of RFC 7162 QRESYNC: SELECT/EXAMINE (QRESYNC ...), VANISHED,
// CLOSED, known-uids and seq-match-data after tombstones were pruned, and
// what other sessions are told, and when.

// qresyncClient logs in and enables QRESYNC.
func (e *testEnv) qresyncClient() *client {
	c := e.dial()
	c.login()
	c.send("q ENABLE QRESYNC")
	c.expect(`^\* ENABLED CONDSTORE QRESYNC$`, `^q OK`)
	return c
}

// resyncLines is what a SELECT (QRESYNC) said after the mailbox's own
// data: the VANISHED (EARLIER) set and the FETCH lines, in order.
type resyncLines struct {
	all      []string
	vanished []string // sets of each VANISHED (EARLIER) line
	fetches  []string
	hms      store.ModSeq
	tagged   string
}

func parseResync(t *testing.T, lines []string) resyncLines {
	t.Helper()
	r := resyncLines{all: lines, tagged: lines[len(lines)-1]}
	r.hms, _ = highestModSeqIn(lines)
	for i, l := range lines[:len(lines)-1] {
		switch {
		case strings.HasPrefix(l, "* VANISHED (EARLIER) "):
			if len(r.fetches) > 0 {
				t.Fatalf("VANISHED after FETCH (line %d): %q", i, lines)
			}
			r.vanished = append(r.vanished, strings.TrimPrefix(l, "* VANISHED (EARLIER) "))
		case strings.Contains(l, " FETCH "):
			r.fetches = append(r.fetches, l)
		case strings.HasPrefix(l, "* VANISHED "):
			t.Fatalf("VANISHED without EARLIER during SELECT: %q", lines)
		}
	}
	return r
}

func (e *testEnv) flagStore(uids store.UIDSet, op store.FlagOp, f store.Flags) store.FlagResult {
	e.t.Helper()
	a := e.account()
	mb := e.mailbox("INBOX")
	r, err := a.SetFlags(context.Background(), mb.ID, uids, op, f, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *testEnv) expunge(uids store.UIDSet) store.ExpungeResult {
	e.t.Helper()
	r, err := e.account().Expunge(context.Background(), e.mailbox("INBOX").ID, uids)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func u64(n store.ModSeq) string { return strconv.FormatUint(uint64(n), 10) }

func TestQresyncParameterNeedsEnable(t *testing.T) {
	env := newTestEnv(t, nil)
	mb := env.mailbox("INBOX")
	c := env.dial()
	c.login()
	// RFC 7162 3.2.5: BAD without ENABLE QRESYNC, even with CONDSTORE.
	c.send(fmt.Sprintf("s1 SELECT INBOX (QRESYNC (%d %d))", mb.UIDValidity, mb.HighestModSeq))
	c.expect(`^s1 BAD QRESYNC must be enabled first$`)
	c.send("e ENABLE CONDSTORE")
	c.until("e OK")
	c.send(fmt.Sprintf("s2 EXAMINE INBOX (QRESYNC (%d %d))", mb.UIDValidity, mb.HighestModSeq))
	c.expect(`^s2 BAD QRESYNC must be enabled first$`)
}

// TestQresyncSyntax: every syntax error is a BAD and nothing is selected
// (RFC 7162 3.2.5); the previously selected mailbox stays.
func TestQresyncSyntax(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{})
	mb := env.mailbox("INBOX")
	c := env.qresyncClient()
	uv := itoa(mb.UIDValidity)
	for i, p := range []string{
		"(QRESYNC (" + uv + " 0))",                    // mod-sequence-value is positive
		"(QRESYNC (" + uv + "))",                      // modseq missing
		"(QRESYNC (0 5))",                             // uidvalidity is nz-number
		"(QRESYNC (" + uv + " 5 1:*))",                // no * in known-uids
		"(QRESYNC (" + uv + " 5 1:3 (1:2 1:3)))",      // sets of different sizes
		"(QRESYNC (" + uv + " 5 1:3 (3,1 4,5)))",      // not ascending
		"(QRESYNC (" + uv + " 5 1:3 (1 2 3)))",        // three sets
		"(QRESYNC (" + uv + " 5 1:3 (1 2) 7))",        // trailing garbage
		"(QRESYNC (" + uv + " 5 1:3 (1:* 1:3)))",      // star in seq-match-data
		"(QRESYNC " + uv + " 5)",                      // not a list
		"(QRESYNC (" + uv + " 18446744073709551615))", // above 63 bits
	} {
		tag := "b" + strconv.Itoa(i)
		c.send(tag + " SELECT INBOX " + p)
		l := c.readLine()
		if !strings.HasPrefix(l, tag+" BAD ") {
			t.Errorf("%s: got %q, want BAD", p, l)
			c.until(tag + " ")
		}
	}
	c.send("n NOOP")
	c.expect(`^n OK`)
	// Still unselected: CLOSE is not valid.
	c.send("c CLOSE")
	c.expect(`^c BAD `)
}

// TestQresyncUIDValidityMismatch follows the example of RFC 7162 3.2.5:
// with the wrong UIDVALIDITY the server behaves as if nothing changed.
func TestQresyncUIDValidityMismatch(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 4, store.Flags{})
	env.expunge(store.UIDSetOf(2))
	env.flagStore(store.UIDSetOf(3), store.FlagsAdd, store.Flags{System: store.FlagSeen})
	mb := env.mailbox("INBOX")
	c := env.qresyncClient()
	c.send(fmt.Sprintf("s SELECT INBOX (QRESYNC (%d 1 1:4))", mb.UIDValidity+1))
	r := parseResync(t, c.until("s "))
	if len(r.vanished) != 0 || len(r.fetches) != 0 {
		t.Fatalf("resync data despite wrong UIDVALIDITY: %q", r.all)
	}
	if r.tagged != "s OK [READ-WRITE] SELECT completed" || r.hms != mb.HighestModSeq {
		t.Fatalf("select: %q", r.all)
	}
	if !slices.Contains(r.all, "* OK [UIDVALIDITY "+itoa(mb.UIDValidity)+"] UIDs valid") {
		t.Fatalf("no UIDVALIDITY: %q", r.all)
	}
}

// TestQresyncSelectExact: the example of RFC 7162 3.2.5.1 in shape, with
// VANISHED (EARLIER) exact from the tombstones: the client learns exactly the
// UIDs expunged since its modseq, then FETCH (UID FLAGS MODSEQ) for changed
// messages it may know, before the tagged OK.
func TestQresyncSelectExact(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 10, store.Flags{})
	env.expunge(store.UIDSetOf(1)) // before the client's state: must not be reported
	c := env.qresyncClient()
	c.send("s SELECT INBOX")
	first := parseResync(t, c.until("s "))
	m0 := first.hms
	c.send("l LOGOUT")
	c.until("l OK")

	// Offline: expunges (one of them a range), flag changes, a new message.
	env.expunge(store.UIDSetOf(3, 4, 5))
	env.flagStore(store.UIDSetOf(6), store.FlagsAdd, store.Flags{System: store.FlagSeen})
	env.expunge(store.UIDSetOf(9))
	env.flagStore(store.UIDSetOf(8), store.FlagsAdd, store.Flags{Keywords: []string{"$Forwarded"}})
	env.flagStore(store.UIDSetOf(8), store.FlagsAdd, store.Flags{System: store.FlagAnswered})
	env.appendMessages("INBOX", 1, store.Flags{System: store.FlagDraft}) // UID 11
	mb := env.mailbox("INBOX")

	c = env.qresyncClient()
	c.send(fmt.Sprintf("s SELECT INBOX (QRESYNC (%d %d))", mb.UIDValidity, m0))
	r := parseResync(t, c.until("s "))
	if r.tagged != "s OK [READ-WRITE] SELECT completed" {
		t.Fatalf("tagged %q", r.tagged)
	}
	if !slices.Equal(r.vanished, []string{"3:5,9"}) {
		t.Fatalf("VANISHED (EARLIER) %q, want exactly 3:5,9", r.vanished)
	}
	// Remaining: 2 6 7 8 10 11 -> seqs 1..6.
	fetchRe := regexp.MustCompile(`^\* (\d+) FETCH \(UID (\d+) FLAGS \(([^)]*)\) MODSEQ \((\d+)\)\)$`)
	want := map[string]string{"6": `\Seen`, "8": `\Answered $Forwarded`, "11": `\Draft`}
	seqOf := map[string]string{"6": "2", "8": "4", "11": "6"}
	if len(r.fetches) != len(want) {
		t.Fatalf("FETCH lines %q", r.fetches)
	}
	var last uint64
	for _, l := range r.fetches {
		m := fetchRe.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("FETCH shape %q", l)
		}
		if want[m[2]] != m[3] || seqOf[m[2]] != m[1] {
			t.Fatalf("FETCH %q", l)
		}
		ms, _ := strconv.ParseUint(m[4], 10, 64)
		if ms <= uint64(m0) || ms > uint64(mb.HighestModSeq) {
			t.Fatalf("MODSEQ %d outside (%d, %d]", ms, m0, mb.HighestModSeq)
		}
		if n, _ := strconv.ParseUint(m[1], 10, 64); n <= last {
			t.Fatalf("FETCH not in sequence order: %q", r.fetches)
		} else {
			last = n
		}
	}
	if r.hms != mb.HighestModSeq {
		t.Fatalf("HIGHESTMODSEQ %d, store %d", r.hms, mb.HighestModSeq)
	}

	// known-uids restricts both parts (RFC 7162 3.2.5.1).
	c.send(fmt.Sprintf("k SELECT INBOX (QRESYNC (%d %d 1:4,8))", mb.UIDValidity, m0))
	lines := c.until("k ")
	if lines[0] != "* OK [CLOSED] Previous mailbox closed" {
		t.Fatalf("first line %q, want CLOSED (RFC 7162 3.2.11)", lines[0])
	}
	r = parseResync(t, lines)
	if !slices.Equal(r.vanished, []string{"3:4"}) || len(r.fetches) != 1 || !strings.Contains(r.fetches[0], "UID 8 ") {
		t.Fatalf("known-uids: vanished %q fetches %q", r.vanished, r.fetches)
	}

	// Up to date: nothing.
	c.send(fmt.Sprintf("u EXAMINE INBOX (QRESYNC (%d %d))", mb.UIDValidity, mb.HighestModSeq))
	r = parseResync(t, c.until("u "))
	if len(r.vanished)+len(r.fetches) != 0 || r.tagged != "u OK [READ-ONLY] EXAMINE completed" {
		t.Fatalf("up to date: %q", r.all)
	}
}

// TestQresyncAfterPruning: once tombstones are pruned the
// store only knows which UIDs are missing; known-uids and seq-match-data
// (RFC 7162 3.2.5.2) bring the VANISHED set down to what the client cannot
// know, following the two examples of that section in shape.
func TestQresyncAfterPruning(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 30, store.Flags{})
	// Long ago, before the client's state: every UID not divisible by three
	// in 1..20 went away. The client has seen that.
	var early store.UIDSet
	for u := store.UID(1); u <= 20; u++ {
		if u%3 != 0 {
			early.Add(u)
		}
	}
	env.expunge(early)
	m0 := env.mailbox("INBOX").HighestModSeq
	// The client's state at m0: UIDs 3,6,...,18 then 21..30 (seqs 1..16).
	clientUIDs := []store.UID{3, 6, 9, 12, 15, 18}
	for u := store.UID(21); u <= 30; u++ {
		clientUIDs = append(clientUIDs, u)
	}
	// Since then: 25 and 27 were expunged, 6 changed flags; then history
	// up to now was pruned.
	env.expunge(store.UIDSetOf(25, 27))
	env.flagStore(store.UIDSetOf(6), store.FlagsAdd, store.Flags{System: store.FlagFlagged})
	mb := env.mailbox("INBOX")
	if err := env.account().PruneTombstones(context.Background(), mb.ID, mb.HighestModSeq); err != nil {
		t.Fatal(err)
	}

	c := env.qresyncClient()
	sel := func(tag, params string) resyncLines {
		c.send(fmt.Sprintf("%s EXAMINE INBOX (QRESYNC (%d %d%s))", tag, mb.UIDValidity, m0, params))
		return parseResync(t, c.until(tag+" "))
	}
	// Without help, every missing UID below UIDNEXT is a candidate.
	r := sel("a", "")
	if !slices.Equal(r.vanished, []string{"1:2,4:5,7:8,10:11,13:14,16:17,19:20,25,27"}) {
		t.Fatalf("no known-uids: %q", r.vanished)
	}
	if len(r.fetches) != 1 || !strings.Contains(r.fetches[0], "UID 6 FLAGS (\\Flagged)") {
		t.Fatalf("fetches %q", r.fetches)
	}
	// known-uids: the client's own UIDs.
	known := store.UIDSetOf(clientUIDs...).String()
	r = sel("b", " "+known)
	if !slices.Equal(r.vanished, []string{"25,27"}) {
		t.Fatalf("known-uids %s: %q", known, r.vanished)
	}
	// A lazy client sends a wide known-uids range but seq-match-data:
	// (seq 6 -> UID 18) matches, so nothing at or below 18 is reported; (seq
	// 16 -> UID 30) does not (30 is now the 14th), so 19..30 is in doubt.
	r = sel("c", " 1:30 (6,16 18,30)")
	if !slices.Equal(r.vanished, []string{"19:20,25,27"}) {
		t.Fatalf("seq-match-data: %q", r.vanished)
	}
	// The full mapping: between (6 -> 18) and (7 -> 21) both sides hold one
	// message, so 19:20 are cleared although no pair names them; from
	// (7 -> 21) to (16 -> 30) the client had nine, the mailbox has seven.
	r = sel("d", " 1:30 (1:16 3,6,9,12,15,18,21:30)")
	if !slices.Equal(r.vanished, []string{"25,27"}) {
		t.Fatalf("full seq-match-data: %q", r.vanished)
	}
	// With complete history the match data is unnecessary and ignored.
	env2 := newTestEnv(t, nil)
	env2.appendMessages("INBOX", 5, store.Flags{})
	before := env2.mailbox("INBOX").HighestModSeq
	env2.expunge(store.UIDSetOf(2, 4))
	mb2 := env2.mailbox("INBOX")
	c2 := env2.qresyncClient()
	c2.send(fmt.Sprintf("s SELECT INBOX (QRESYNC (%d %d 1:5 (1:5 1:5)))", mb2.UIDValidity, before))
	r = parseResync(t, c2.until("s "))
	if !slices.Equal(r.vanished, []string{"2,4"}) {
		t.Fatalf("exact with match data: %q", r.vanished)
	}
}

// TestVanishedBetweenSessions: with QRESYNC, expunges by others are
// reported as VANISHED (never EXPUNGE) at NOOP and in IDLE, and FETCH
// carries UID and MODSEQ; the modseq of everything told is consistent with
// a later resync.
func TestVanishedBetweenSessions(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 5, store.Flags{})
	c := env.qresyncClient()
	c.send("s SELECT INBOX")
	c.until("s OK")

	env.expunge(store.UIDSetOf(2, 3))
	c.send("n NOOP")
	c.expect(`^\* VANISHED 2:3$`, `^n OK`)

	c.send("i IDLE")
	c.expect(`^\+ idling$`)
	env.expunge(store.UIDSetOf(5))
	c.expect(`^\* VANISHED 5$`)
	r := env.flagStore(store.UIDSetOf(4), store.FlagsAdd, store.Flags{System: store.FlagSeen})
	c.expect(`^\* 2 FETCH \(UID 4 FLAGS \(\\Seen\) MODSEQ \(` + u64(r.ModSeq) + `\)\)$`)
	env.appendMessages("INBOX", 1, store.Flags{})
	c.expect(`^\* 3 EXISTS$`, `^\* [01] RECENT$`) // IDLE and the helper race to claim it
	c.send("DONE")
	c.expect(`^i OK`)
	// A message that arrives and goes between two sync points was never
	// announced, so it is never reported as vanished (RFC 7162 3.2.10.2).
	res := env.appendMessages("INBOX", 1, store.Flags{})
	env.expunge(store.UIDSetOf(res.UIDs...))
	c.send("n2 NOOP")
	c.expect(`^n2 OK`)
}

// TestQresyncRev2 runs a resync in IMAP4rev2 mode (RFC 9051): no RECENT,
// a LIST response, the same resync data.
func TestQresyncRev2(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{})
	m0 := env.mailbox("INBOX").HighestModSeq
	env.expunge(store.UIDSetOf(2))
	env.flagStore(store.UIDSetOf(3), store.FlagsAdd, store.Flags{System: store.FlagSeen})
	mb := env.mailbox("INBOX")
	c := env.dial()
	c.login()
	c.send("e ENABLE IMAP4rev2 QRESYNC")
	c.expect(`^\* ENABLED IMAP4rev2 CONDSTORE QRESYNC$`, `^e OK`)
	c.send(fmt.Sprintf("s SELECT INBOX (QRESYNC (%d %d))", mb.UIDValidity, m0))
	lines := c.until("s ")
	r := parseResync(t, lines)
	for _, l := range lines {
		if strings.HasSuffix(l, " RECENT") {
			t.Fatalf("RECENT in IMAP4rev2: %q", lines)
		}
	}
	if !slices.Equal(r.vanished, []string{"2"}) || len(r.fetches) != 1 ||
		r.fetches[0] != `* 2 FETCH (UID 3 FLAGS (\Seen) MODSEQ (`+u64(mb.HighestModSeq)+`))` {
		t.Fatalf("rev2 resync: %q", lines)
	}
}

// TestQresyncSelectRacesWriter: changes committed while a QRESYNC SELECT is
// being answered are reported exactly once, either in the SELECT or at the
// next sync point, never contradicting EXISTS.
func TestQresyncSelectRacesWriter(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 200, store.Flags{})
	m0 := env.mailbox("INBOX").HighestModSeq
	uv := env.mailbox("INBOX").UIDValidity
	done := make(chan struct{})
	go func() {
		defer close(done)
		a, err := env.store.Open(context.Background(), testUser)
		if err != nil {
			return
		}
		defer a.Close()
		mb, _ := a.Mailbox(context.Background(), "INBOX")
		for u := store.UID(1); u <= 200; u += 2 {
			a.Expunge(context.Background(), mb.ID, store.UIDSetOf(u))
		}
	}()
	c := env.qresyncClient()
	for i := 0; ; i++ {
		finished := false
		select {
		case <-done:
			finished = true
		default:
		}
		tag := "s" + strconv.Itoa(i)
		c.send(fmt.Sprintf("%s EXAMINE INBOX (QRESYNC (%d %d))", tag, uv, m0))
		lines := c.until(tag + " ")
		exists := -1
		for _, l := range lines {
			if n, ok := strings.CutSuffix(strings.TrimPrefix(l, "* "), " EXISTS"); ok {
				exists, _ = strconv.Atoi(n)
			}
		}
		r := parseResync(t, lines)
		var earlier store.UIDSet
		for _, set := range r.vanished {
			for _, rg := range parseUIDSet(t, set) {
				earlier.AddRange(rg.Start, rg.Stop)
			}
		}
		if exists != 200-int(earlier.Len()) {
			t.Fatalf("EXISTS %d with %d vanished earlier", exists, earlier.Len())
		}
		// A NOOP reports the rest as plain VANISHED, never a UID already
		// reported, and only UIDs the client was told exist.
		c.send("n" + tag + " NOOP")
		for _, l := range c.until("n" + tag + " ") {
			if set, ok := strings.CutPrefix(l, "* VANISHED "); ok {
				for _, u := range parseUIDSet(t, set).UIDs() {
					if earlier.Contains(u) || u > 200 {
						t.Fatalf("UID %d in VANISHED after VANISHED (EARLIER) %s", u, earlier)
					}
				}
			}
		}
		if finished {
			return
		}
	}
}

// parseUIDSet reads "1:3,7" as sent by the server.
func parseUIDSet(t *testing.T, s string) store.UIDSet {
	t.Helper()
	var set store.UIDSet
	for _, part := range strings.Split(s, ",") {
		a, b, ok := strings.Cut(part, ":")
		x, err := strconv.ParseUint(a, 10, 32)
		if err != nil {
			t.Fatalf("bad set %q", s)
		}
		y := x
		if ok {
			if y, err = strconv.ParseUint(b, 10, 32); err != nil {
				t.Fatalf("bad set %q", s)
			}
		}
		set.AddRange(store.UID(x), store.UID(y))
	}
	return set
}

// TestModseqAcrossMoveCopyAppend: MOVE expunges from the source with a
// modseq (VANISHED in every QRESYNC session, HIGHESTMODSEQ in MOVE's tagged
// OK: RFC 6851 4.4); messages arriving by MOVE, COPY or APPEND get a modseq
// above everything before them (RFC 7162 3.1), so CHANGEDSINCE and a
// QRESYNC SELECT find them.
func TestModseqAcrossMoveCopyAppend(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{})
	if _, err := env.account().CreateMailbox(context.Background(), "Other", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	otherBefore := env.mailbox("Other").HighestModSeq
	inboxBefore := env.mailbox("INBOX").HighestModSeq

	w := env.qresyncClient()
	w.send("s SELECT INBOX")
	w.until("s OK")
	a := env.qresyncClient()
	a.send("s SELECT INBOX")
	a.until("s OK")

	a.send("m UID MOVE 1 Other")
	lines := a.until("m ")
	hms := env.mailbox("INBOX").HighestModSeq
	if hms != inboxBefore+1 {
		t.Fatalf("MOVE took %d modseqs in the source", hms-inboxBefore)
	}
	if !slices.Equal(lines[1:], []string{"* VANISHED 1", "m OK [HIGHESTMODSEQ " + u64(hms) + "] UID MOVE completed"}) ||
		!strings.HasPrefix(lines[0], "* OK [COPYUID ") {
		t.Fatalf("MOVE: %q", lines)
	}
	w.send("n NOOP")
	w.expect(`^\* VANISHED 1$`, `^n OK`)

	a.send("c COPY 1 Other")
	a.until("c OK")
	res := env.appendMessages("INBOX", 1, store.Flags{System: store.FlagSeen})
	if res.ModSeq <= hms {
		t.Fatalf("APPEND modseq %d not above %d", res.ModSeq, hms)
	}
	w.send("n2 NOOP")
	w.expect(`^\* 3 EXISTS$`, `^\* 0 RECENT$`, `^n2 OK`)
	w.send("f UID FETCH 1:* (FLAGS) (CHANGEDSINCE " + u64(hms) + ")")
	w.expect(`^\* 3 FETCH \(UID 4 MODSEQ \(`+u64(res.ModSeq)+`\) FLAGS \(\\Seen\)\)$`, `^f OK`)

	// The destination: both arrivals are changes since its old modseq.
	ob := env.mailbox("Other")
	a.send(fmt.Sprintf("o EXAMINE Other (QRESYNC (%d %d))", ob.UIDValidity, otherBefore))
	r := parseResync(t, a.until("o "))
	if len(r.vanished) != 0 || len(r.fetches) != 2 || r.hms != ob.HighestModSeq {
		t.Fatalf("destination resync: %q", r.all)
	}
	for _, f := range r.fetches {
		ms := fetchModseqRe.FindStringSubmatch(f)
		if n, _ := strconv.ParseUint(ms[1], 10, 64); n <= uint64(otherBefore) {
			t.Fatalf("arrival with modseq %d <= %d: %q", n, otherBefore, f)
		}
	}
}

// TestExpungeUnderQresync follows the examples of RFC 7162 3.2.7 and
// 3.2.10.2: with messages 3, 4, 7 and 11 marked \Deleted, EXPUNGE answers
// one VANISHED with their UIDs (EXPUNGE responses without QRESYNC) and a
// tagged OK [HIGHESTMODSEQ]; the next EXPUNGE reports only what it removed;
// an EXPUNGE that removes nothing changes no modseq and quotes none.
func TestExpungeUnderQresync(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 11, store.Flags{})
	env.expunge(store.UIDSetOf(1, 6)) // UIDs and sequence numbers now differ
	// With two more, sequence numbers 3, 4, 7, 11 are UIDs 4, 5, 9, 13.
	env.appendMessages("INBOX", 2, store.Flags{})
	c := env.qresyncClient()
	c.send("s SELECT INBOX")
	c.until("s OK")
	c.send(`d STORE 3,4,7,11 +FLAGS.SILENT (\Deleted)`)
	c.until("d OK")
	// Read before sending: the server may commit before a read after.
	hms := u64(env.mailbox("INBOX").HighestModSeq + 1)
	c.send("x EXPUNGE")
	c.expect(`^\* VANISHED 4:5,9,13$`, `^x OK \[HIGHESTMODSEQ `+hms+`\] EXPUNGE completed$`)
	c.send(`d2 STORE 1,4 +FLAGS.SILENT (\Deleted)`) // UIDs 2 and 8
	c.until("d2 OK")
	hms = u64(env.mailbox("INBOX").HighestModSeq + 1)
	c.send("x2 UID EXPUNGE 1:100")
	c.expect(`^\* VANISHED 2,8$`, `^x2 OK \[HIGHESTMODSEQ `+hms+`\] UID EXPUNGE completed$`)
	before := env.mailbox("INBOX").HighestModSeq
	c.send("x3 EXPUNGE")
	c.expect(`^x3 OK EXPUNGE completed$`)
	if env.mailbox("INBOX").HighestModSeq != before {
		t.Fatal("an EXPUNGE that removed nothing took a modseq")
	}

	// Without QRESYNC: EXPUNGE responses, highest sequence number first
	// is not required, but each must be valid when read.
	p := env.dial()
	p.login()
	p.send("s SELECT INBOX")
	p.until("s OK") // UIDs 3 7 10 11 12
	p.send(`d STORE 2,5 +FLAGS.SILENT (\Deleted)`)
	p.until("d OK")
	p.send("x EXPUNGE")
	p.expect(`^\* 5 EXPUNGE$`, `^\* 2 EXPUNGE$`, `^x OK EXPUNGE completed$`)
}
