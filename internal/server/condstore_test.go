package server

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

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

// TestHighestModSeqSameBeforeAndAfterEnable: HIGHESTMODSEQ on SELECT must
// not depend on whether CONDSTORE is enabled (modseqs are always kept, so
// the value RFC 7162 3.1.2.1 requires once it is enabled is the same one),
// and it is sent even when it is not.
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

// TestCloseSendsNoHighestModSeq: CLOSE never
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

// TestStoreSilentSendsModseq: under CONDSTORE a
// STORE .SILENT still answers with FETCH (UID MODSEQ) for every message it
// touched (RFC 7162 3.1.3), with or without UNCHANGEDSINCE, changed or
// already as asked.
func TestStoreSilentSendsModseq(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 3, store.Flags{})
	c := env.dial()
	c.login()
	c.send("s SELECT INBOX (CONDSTORE)")
	c.until("s OK")
	c.send(`a STORE 1:2 +FLAGS.SILENT (\Seen)`)
	got := c.expect(`^\* 1 FETCH \(UID 1 MODSEQ \(\d+\)\)$`, `^\* 2 FETCH \(UID 2 MODSEQ \(\d+\)\)$`, `^a OK`)
	m := env.mailbox("INBOX").HighestModSeq
	if !strings.Contains(got[0], "("+u64(m)+")") || !strings.Contains(got[1], "("+u64(m)+")") {
		t.Fatalf("one STORE is one modseq (%d): %q", m, got)
	}
	// Nothing to change for 1, but it passes UNCHANGEDSINCE: still reported.
	c.send(`b STORE 1,3 (UNCHANGEDSINCE ` + u64(m) + `) +FLAGS.SILENT (\Seen)`)
	c.expect(`^\* 1 FETCH \(UID 1 MODSEQ \(`+u64(m)+`\)\)$`, `^\* 3 FETCH \(UID 3 MODSEQ \(`+u64(m+1)+`\)\)$`, `^b OK`)
	// No repetition at the next sync point.
	c.send("n NOOP")
	c.expect(`^n OK`)
}

// TestHeldExpungesAndHighestModSeq: while a session is inside commands that
// forbid expunge responses (FETCH, STORE, SEARCH: RFC 9051 7.4.1, RFC 7162
// 3.2.10.2), another session's expunge is held, flag changes still go out
// with MODSEQ, and every such command ends with "* OK [HIGHESTMODSEQ n]"
// below the held expunge (RFC 7162 3.2 and the example in 6), so a client
// that loses the connection then resyncs from a point that still includes
// the expunge. NOOP then reports it.
func TestHeldExpungesAndHighestModSeq(t *testing.T) {
	for _, qresync := range []bool{false, true} {
		t.Run(fmt.Sprintf("qresync=%v", qresync), func(t *testing.T) {
			env := newTestEnv(t, nil)
			env.appendMessages("INBOX", 3, store.Flags{})
			b := env.dial()
			b.login()
			if qresync {
				b.send("e ENABLE QRESYNC")
				b.until("e OK")
			}
			b.send("s SELECT INBOX (CONDSTORE)")
			h0, _ := highestModSeqIn(b.until("s OK"))

			a := env.dial()
			a.login()
			a.send("s SELECT INBOX")
			a.until("s OK")
			a.send(`d STORE 2 +FLAGS.SILENT (\Deleted)`)
			a.until("d OK")
			a.send("x EXPUNGE")
			a.until("x OK")
			a.send(`f STORE 1 +FLAGS.SILENT (\Flagged)`)
			a.until("f OK")
			h3 := env.mailbox("INBOX").HighestModSeq
			if h3 != h0+3 {
				t.Fatalf("modseqs %d -> %d", h0, h3)
			}

			hold := `^\* OK \[HIGHESTMODSEQ ` + u64(h0) + `\] Expunges not yet reported$`
			b.send("f FETCH 1:* (FLAGS)")
			b.expect(
				`^\* 1 FETCH \(FLAGS \(\\Flagged\)\)$`,
				`^\* 3 FETCH \(FLAGS \(\)\)$`,
				`^\* 1 FETCH \(UID 1 FLAGS \(\\Flagged\) MODSEQ \(`+u64(h3)+`\)\)$`,
				hold,
				`^f OK FETCH completed$`,
			)
			b.send(`s STORE 3 +FLAGS.SILENT (\Answered)`)
			// STORE syncs before its own responses and after them; each
			// sync point that still holds says so.
			b.expect(hold, `^\* 3 FETCH \(UID 3 MODSEQ \(`+u64(h3+1)+`\)\)$`, hold, `^s OK`)
			b.send("q SEARCH ALL")
			lines := b.until("q ")
			if !slices.ContainsFunc(lines, regexp.MustCompile(hold).MatchString) {
				t.Fatalf("SEARCH: %q", lines)
			}
			for _, l := range lines {
				if strings.HasSuffix(l, " EXPUNGE") || strings.HasPrefix(l, "* VANISHED") {
					t.Fatalf("expunge reported during SEARCH: %q", lines)
				}
			}
			b.send("n NOOP")
			if qresync {
				b.expect(`^\* VANISHED 2$`, `^n OK`)
			} else {
				b.expect(`^\* 2 EXPUNGE$`, `^n OK`)
			}
			// Everything is told now: no more holding line.
			b.send("f2 FETCH 1 (FLAGS)")
			b.expect(`^\* 1 FETCH \(FLAGS \(\\Flagged\)\)$`, `^f2 OK`)
		})
	}
}

// TestUnchangedSinceRace: a conditional STORE
// racing another session's change never applies on stale state. Session A
// reads a message's modseq, session B changes the message at about the
// same time, then A stores FLAGS (UNCHANGEDSINCE m). Modseqs are one per
// commit, so the order of commits is known: if A succeeded, no change of
// B's may lie between A's read and A's write; if A failed, B's change must.
func TestUnchangedSinceRace(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 1, store.Flags{})
	a := env.dial()
	a.login()
	a.send("s SELECT INBOX")
	a.until("s OK")
	b, err := dialRaw(env.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	if _, err := b.cmd("SELECT INBOX"); err != nil {
		t.Fatal(err)
	}
	modseqOf := func(lines []string) uint64 {
		for _, l := range lines {
			if m := fetchModseqRe.FindStringSubmatch(l); m != nil && strings.Contains(l, "UID 1 ") {
				n, _ := strconv.ParseUint(m[1], 10, 64)
				return n
			}
		}
		return 0
	}
	succeeded, failed := 0, 0
	for i := range 60 {
		tag := "r" + strconv.Itoa(i)
		a.send(tag + " UID FETCH 1 (MODSEQ)")
		m := modseqOf(a.until(tag + " "))
		if m == 0 {
			t.Fatal("no MODSEQ")
		}
		bDone := make(chan uint64, 1)
		go func() {
			time.Sleep(time.Duration(i%4) * 200 * time.Microsecond)
			if _, err := b.cmd(fmt.Sprintf("UID STORE 1 FLAGS ($b%d)", i)); err != nil {
				bDone <- 0
				return
			}
			bDone <- 1
		}()
		a.send(fmt.Sprintf("w%d UID STORE 1 (UNCHANGEDSINCE %d) FLAGS ($a%d)", i, m, i))
		lines := a.until(fmt.Sprintf("w%d ", i))
		if <-bDone == 0 {
			t.Fatal("writer B failed")
		}
		tagged := lines[len(lines)-1]
		// The store's final state says which came last; the modseq of
		// message 1 now is the later of the two commits.
		st := env.account()
		var final store.MessageState
		mb := env.mailbox("INBOX")
		st.Messages(t.Context(), mb.ID, store.UIDSetOf(1), func(d *store.MessageData) error { final = d.MessageState; return nil })
		switch {
		case strings.Contains(tagged, "[MODIFIED 1]"):
			failed++
			// Failed: B's change is newer than what A read, and A's flag
			// was not written.
			if final.Flags.Has(fmt.Sprintf("$a%d", i)) || uint64(final.ModSeq) <= m {
				t.Fatalf("round %d: MODIFIED but state %+v (A read %d)", i, final, m)
			}
		case strings.HasPrefix(tagged, fmt.Sprintf("w%d OK", i)):
			succeeded++
			mA := modseqOf(lines)
			// A committed at mA: B's commit is either before A read (<= m)
			// or after A wrote (> mA). Two commits: m < mA, and the final
			// modseq is max(mA, mB).
			switch {
			case final.Flags.Has(fmt.Sprintf("$a%d", i)):
				// A was last: B must have committed before A read.
				if uint64(final.ModSeq) != mA || mA != m+2 && mA != m+1 {
					t.Fatalf("round %d: A last, modseqs read %d wrote %d final %d", i, m, mA, final.ModSeq)
				}
				if mA == m+2 {
					t.Fatalf("round %d: B committed between A's read (%d) and A's write (%d)", i, m, mA)
				}
			case final.Flags.Has(fmt.Sprintf("$b%d", i)):
				// B was last: A's write must come right after its read.
				if mA != m+1 {
					t.Fatalf("round %d: A wrote at %d after reading %d with B in between", i, mA, m)
				}
			default:
				t.Fatalf("round %d: final flags %v", i, final.Flags)
			}
		default:
			t.Fatalf("round %d: %q", i, tagged)
		}
	}
	t.Logf("conditional STORE succeeded %d times, failed %d times", succeeded, failed)
}
