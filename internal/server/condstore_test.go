package server

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Tests of RFC 7162 CONDSTORE as the IMAP core implements it: capability,
// enabling, HIGHESTMODSEQ, MODSEQ (and UID) in unsolicited FETCH, CLOSE.
// The FETCH, STORE, SEARCH and STATUS sides have their own tests beside
// those commands; the multi-session and resync tests are in qresync_test.go
// and resync_random_test.go.

var highestModSeqRe = regexp.MustCompile(`\[HIGHESTMODSEQ (\d+)\]`)

// highestModSeqIn returns the HIGHESTMODSEQ value in lines (0 if absent)
// and how many lines carried one.
func highestModSeqIn(lines []string) (store.ModSeq, int) {
	var v store.ModSeq
	n := 0
	for _, l := range lines {
		if m := highestModSeqRe.FindStringSubmatch(l); m != nil {
			u, _ := strconv.ParseUint(m[1], 10, 64)
			v = store.ModSeq(u)
			n++
		}
	}
	return v, n
}

// mailbox reads a mailbox's current state straight from the store.
func (e *testEnv) mailbox(name string) store.MailboxInfo {
	e.t.Helper()
	mb, err := e.account().Mailbox(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return mb
}

func TestCondstoreCapability(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.dial()
	c.send("c CAPABILITY")
	l := c.expect(`^\* CAPABILITY .*$`, `^c OK`)[0]
	for _, w := range []string{"CONDSTORE", "QRESYNC", "ENABLE"} {
		if !strings.Contains(" "+l+" ", " "+w+" ") {
			t.Errorf("CAPABILITY lacks %s: %q", w, l)
		}
	}
}

// TestHighestModSeqSameBeforeAndAfterEnable is the second seed problem:
// HIGHESTMODSEQ on SELECT must not depend on whether CONDSTORE is enabled
// (design principle 1), and it is sent even when it is not.
func TestHighestModSeqSameBeforeAndAfterEnable(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{})
	want := env.mailbox("INBOX").HighestModSeq
	c := env.dial()
	c.login()
	c.send("s1 SELECT INBOX")
	before, n := highestModSeqIn(c.until("s1 "))
	if n != 1 || before != want {
		t.Fatalf("HIGHESTMODSEQ before ENABLE %d (%d times), store says %d", before, n, want)
	}
	c.send("u UNSELECT")
	c.until("u OK")
	c.send("e ENABLE CONDSTORE")
	c.expect(`^\* ENABLED CONDSTORE$`, `^e OK`)
	c.send("s2 SELECT INBOX")
	after, _ := highestModSeqIn(c.until("s2 "))
	if after != before {
		t.Fatalf("HIGHESTMODSEQ %d after ENABLE, %d before", after, before)
	}
	// A second session, enabling through SELECT (CONDSTORE), sees the same.
	c2 := env.dial()
	c2.login()
	c2.send("s SELECT INBOX (CONDSTORE)")
	lines := c2.until("s ")
	if v, _ := highestModSeqIn(lines); v != before {
		t.Fatalf("SELECT (CONDSTORE): %d", v)
	}
	if lines[len(lines)-1] != "s OK [READ-WRITE] SELECT completed" {
		t.Fatalf("tagged %q", lines[len(lines)-1])
	}
}

func TestEnableCondstoreAndQresync(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.dial()
	c.login()
	// RFC 7162 3.2.3: QRESYNC implies CONDSTORE; RFC 5161 3.1: ENABLED
	// lists only what is newly enabled.
	c.send("e1 ENABLE QRESYNC")
	c.expect(`^\* ENABLED CONDSTORE QRESYNC$`, `^e1 OK ENABLE completed$`)
	c.send("e2 ENABLE QRESYNC CONDSTORE")
	c.expect(`^\* ENABLED$`, `^e2 OK ENABLE completed$`)

	c2 := env.dial()
	c2.login()
	c2.send("e ENABLE CONDSTORE QRESYNC")
	c2.expect(`^\* ENABLED CONDSTORE QRESYNC$`, `^e OK`)
}

// TestEnableWhileSelectedReportsHighestModSeq: RFC 7162 3.1, the first
// CONDSTORE-enabling command run with a mailbox selected reports
// HIGHESTMODSEQ, as "* OK [HIGHESTMODSEQ n]" (Example 5).
func TestEnableWhileSelectedReportsHighestModSeq(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 2, store.Flags{})
	c := env.dial()
	c.login()
	c.send("s SELECT INBOX")
	c.until("s OK")
	hms := env.mailbox("INBOX").HighestModSeq
	c.send("e ENABLE CONDSTORE")
	c.expect(`^\* ENABLED CONDSTORE$`, `^\* OK \[HIGHESTMODSEQ `+itoa(uint32(hms))+`\] `, `^e OK`)
	// Not a second time.
	c.send("e2 ENABLE QRESYNC")
	c.expect(`^\* ENABLED QRESYNC$`, `^e2 OK`)
}

// TestUnsolicitedFetchCarriesModseq: once CONDSTORE is enabled, every FETCH
// caused by a flag change carries MODSEQ (RFC 7162 3.1) and UID (3.2.4);
// before, it carries neither.
func TestUnsolicitedFetchCarriesModseq(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 2, store.Flags{})
	mb := env.mailbox("INBOX")
	other := env.account()
	ctx := context.Background()
	c := env.dial()
	c.login()
	c.send("s SELECT INBOX")
	c.until("s OK")

	setFlags := func(uid store.UID, f store.SystemFlags) store.ModSeq {
		t.Helper()
		r, err := other.SetFlags(ctx, mb.ID, store.UIDSetOf(uid), store.FlagsAdd, store.Flags{System: f}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return r.ModSeq
	}
	setFlags(1, store.FlagSeen)
	c.send("n1 NOOP")
	c.expect(`^\* 1 FETCH \(FLAGS \(\\Seen\)\)$`, `^n1 OK`)

	c.send("e ENABLE CONDSTORE")
	c.until("e OK")
	m := setFlags(2, store.FlagFlagged)
	c.send("n2 NOOP")
	c.expect(`^\* 2 FETCH \(UID 2 FLAGS \(\\Flagged\) MODSEQ \(`+itoa(uint32(m))+`\)\)$`, `^n2 OK`)

	// The same in IDLE.
	c.send("i IDLE")
	c.expect(`^\+ idling$`)
	m = setFlags(1, store.FlagAnswered)
	c.expect(`^\* 1 FETCH \(UID 1 FLAGS \(\\Seen \\Answered\) MODSEQ \(` + itoa(uint32(m)) + `\)\)$`)
	c.send("DONE")
	c.expect(`^i OK`)
}

// TestCloseSendsNoHighestModSeq is the fourth seed problem: CLOSE never
// carries HIGHESTMODSEQ (RFC 7162 3.2.8), even under QRESYNC after removing
// messages; a CLOSE that removes nothing changes no modseq; one that
// removes messages takes one modseq, and other sessions see VANISHED.
func TestCloseSendsNoHighestModSeq(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{})
	env.appendMessages("INBOX", 2, store.Flags{System: store.FlagDeleted})

	watcher := env.dial()
	watcher.login()
	watcher.send("e ENABLE QRESYNC")
	watcher.until("e OK")
	watcher.send("s SELECT INBOX")
	watcher.until("s OK")

	c := env.dial()
	c.login()
	c.send("e ENABLE QRESYNC")
	c.until("e OK")

	// Read-only: nothing is removed, nothing changes.
	before := env.mailbox("INBOX").HighestModSeq
	c.send("x EXAMINE INBOX")
	c.until("x OK")
	c.send("c1 CLOSE")
	c.expect(`^c1 OK CLOSE completed$`)
	if got := env.mailbox("INBOX").HighestModSeq; got != before {
		t.Fatalf("CLOSE of EXAMINE moved HIGHESTMODSEQ %d -> %d", before, got)
	}

	c.send("s SELECT INBOX")
	c.until("s OK")
	c.send("c2 CLOSE")
	c.expect(`^c2 OK CLOSE completed$`)
	after := env.mailbox("INBOX").HighestModSeq
	if after != before+1 {
		t.Fatalf("CLOSE expunge: HIGHESTMODSEQ %d -> %d, want one step", before, after)
	}
	watcher.send("n NOOP")
	watcher.expect(`^\* VANISHED 4:5$`, `^n OK`)

	// Nothing \Deleted now: CLOSE removes nothing and changes nothing.
	c.send("s2 SELECT INBOX")
	c.until("s2 OK")
	c.send("c3 CLOSE")
	c.expect(`^c3 OK CLOSE completed$`)
	if got := env.mailbox("INBOX").HighestModSeq; got != after {
		t.Fatalf("empty CLOSE moved HIGHESTMODSEQ %d -> %d", after, got)
	}
}
