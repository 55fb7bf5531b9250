package server

import (
	"context"
	"regexp"
	"strconv"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestNoStateGoesBack: a change committed by another process is visible
// in the store before this server's poller publishes it. FETCH CHANGEDSINCE
// reads the store and shows it; what the session is shown next (FETCH
// FLAGS, a new SELECT) must not be older: a message's MODSEQ never goes
// back, and HIGHESTMODSEQ covers every MODSEQ shown (RFC 7162 3.1).
func TestNoStateGoesBack(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 2, store.Flags{})
	c := env.dial()
	c.login()
	c.send("e ENABLE CONDSTORE")
	c.until("e OK")
	c.send("s SELECT INBOX")
	c.until("s OK")

	other := env.reopen() // another process's store
	a, err := other.Open(context.Background(), testUser)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	inbox, _ := a.Mailbox(context.Background(), "INBOX")
	res, err := a.SetFlags(context.Background(), inbox.ID, store.UIDSetOf(1), store.FlagsAdd, store.Flags{Keywords: []string{"$x"}}, 0)
	if err != nil || res.ModSeq == 0 {
		t.Fatalf("SetFlags = %+v, %v", res, err)
	}
	ms := strconv.FormatUint(uint64(res.ModSeq), 10)

	modseqOf := regexp.MustCompile(`MODSEQ \((\d+)\)`)
	check := func(lines []string, what string) {
		t.Helper()
		for _, l := range lines {
			m := modseqOf.FindStringSubmatch(l)
			if m != nil && regexp.MustCompile(`UID 1 `).MatchString(l) {
				if n, _ := strconv.ParseUint(m[1], 10, 64); n < uint64(res.ModSeq) {
					t.Fatalf("%s shows UID 1 at MODSEQ %d after MODSEQ %s was shown: %q", what, n, ms, l)
				}
			}
		}
	}
	c.send("f1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1)")
	got := c.until("f1 OK")
	shown := false
	for _, l := range got {
		shown = shown || regexp.MustCompile(`\$x`).MatchString(l) && regexp.MustCompile(`MODSEQ \(`+ms+`\)`).MatchString(l)
	}
	if !shown {
		t.Fatalf("CHANGEDSINCE did not show the change at %s: %q", ms, got)
	}
	c.send("f2 UID FETCH 1 (UID FLAGS MODSEQ)")
	check(c.until("f2 OK"), "FETCH FLAGS")
	c.send("u UNSELECT")
	c.until("u OK")
	c.send("s2 SELECT INBOX")
	lines := c.until("s2 OK")
	for _, l := range lines {
		if m := regexp.MustCompile(`HIGHESTMODSEQ (\d+)`).FindStringSubmatch(l); m != nil {
			if n, _ := strconv.ParseUint(m[1], 10, 64); n < uint64(res.ModSeq) {
				t.Fatalf("SELECT reports HIGHESTMODSEQ %d below MODSEQ %s already shown", n, ms)
			}
		}
	}
	c.send("f3 FETCH 1 (UID FLAGS MODSEQ)")
	check(c.until("f3 OK"), "FETCH after SELECT")
}
