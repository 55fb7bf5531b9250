package server

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// progressLines returns the INPROGRESS reports among lines, as
// "count/goal".
func progressLines(t *testing.T, tag string, lines []string) []string {
	t.Helper()
	re := regexp.MustCompile(`^\* OK \[INPROGRESS \("` + regexp.QuoteMeta(tag) + `" (\d+) (\d+|NIL)\)\] Working$`)
	var out []string
	for _, l := range lines {
		if strings.Contains(l, "INPROGRESS") {
			m := re.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("malformed report %q", l)
			}
			out = append(out, m[1]+"/"+m[2])
		}
	}
	return out
}

// RFC 9585: FETCH and SEARCH over many messages report as they go, every
// ProgressEvery messages (here with no minimum interval, so the reports do
// not depend on the machine's speed); STORE, COPY and MOVE announce their
// goal, then relay the counts their store transaction reports; a small
// command reports nothing.
func TestInProgress(t *testing.T) {
	env := newTestEnv(t, func(c *Config) { c.ProgressEvery = 10; c.ProgressInterval = -1 })
	env.appendMessages("INBOX", 35, store.Flags{})
	if _, err := env.account().CreateMailbox(context.Background(), "Archive", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := env.dial()
	c.loginRev2()
	c.send("a CAPABILITY")
	if caps := c.expect(`^\* CAPABILITY `, `^a OK`)[0]; !contains(caps, "INPROGRESS") {
		t.Fatalf("INPROGRESS not offered: %q", caps)
	}
	c.send("s SELECT INBOX")
	c.until("s OK")

	want := []string{"10/35", "20/35", "30/35"}
	for _, cmd := range []string{"FETCH 1:* (FLAGS)", "UID FETCH 1:* (ENVELOPE)", "SEARCH LARGER 100000", "UID SEARCH SMALLER 100000"} {
		c.send("p " + cmd)
		got := c.until("p ")
		if rep := progressLines(t, "p", got); strings.Join(rep, " ") != strings.Join(want, " ") {
			t.Errorf("%s: reports %q, want %q", cmd, rep, want)
		}
		if !strings.HasPrefix(got[len(got)-1], "p OK") {
			t.Errorf("%s: %q", cmd, got[len(got)-1])
		}
	}
	// A report comes between the responses, flushed in order: the 10th
	// message's response follows the first report.
	c.send("q FETCH 1:* (UID)")
	got := c.until("q OK")
	if got[0] != "* 1 FETCH (UID 1)" || got[9] != "* 10 FETCH (UID 10)" || !strings.Contains(got[10], `INPROGRESS ("q" 10 35)`) {
		t.Errorf("order: %q", got[:12])
	}
	c.send("r FETCH 1:9 (FLAGS)")
	if rep := progressLines(t, "r", c.until("r OK")); len(rep) != 0 {
		t.Errorf("short FETCH reported %q", rep)
	}
	for _, cmd := range []string{"STORE 1:* +FLAGS.SILENT (\\Flagged)", "COPY 1:* Archive", "UID MOVE 1:30 Archive"} {
		c.send("m " + cmd)
		got := c.until("m OK")
		goal := "35"
		if strings.Contains(cmd, "MOVE") {
			goal = "30"
		}
		want := "0/" + goal + " 10/" + goal + " 20/" + goal + " 30/" + goal
		if !storeCountsWrites() {
			want = "0/" + goal
		}
		if rep := progressLines(t, "m", got); strings.Join(rep, " ") != want {
			t.Errorf("%s: reports %q, want %s", cmd, rep, want)
		}
	}
}

// A SEARCH over a mailbox of a few thousand messages reports with the
// default pace of counting (every 1,000), under a client that wants every
// report.
func TestInProgressLargeMailbox(t *testing.T) {
	const n = 3500
	env := newTestEnv(t, func(c *Config) { c.ProgressInterval = -1 })
	a := env.account()
	mb, _ := a.Mailbox(context.Background(), "INBOX")
	var msgs []store.NewMessage
	for i := range n {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(fmt.Sprintf("Subject: m%d\r\n\r\nbody %d\r\n", i, i))})
	}
	if _, err := a.Append(context.Background(), mb.ID, msgs); err != nil {
		t.Fatal(err)
	}
	c := env.dial()
	c.loginRev2()
	c.send("s SELECT INBOX")
	c.until("s OK")
	// SMALLER needs each message's stored size: a pass over the store
	// (string keys are answered by the text index, without one).
	c.send(`x UID SEARCH SMALLER 1000000`)
	got := c.until("x OK")
	if rep := progressLines(t, "x", got); strings.Join(rep, " ") != "1000/3500 2000/3500 3000/3500" {
		t.Fatalf("reports %q", rep)
	}
	if got[len(got)-2] != `* ESEARCH (TAG "x") UID ALL 1:3500` {
		t.Fatalf("result %q", got[len(got)-2])
	}
}

// storeCountsWrites says whether the test servers' store reports progress
// from inside its write transactions (store.TrackProgress): the embedded
// one does, PostgreSQL's bulk statements do not.
func storeCountsWrites() bool { return os.Getenv(testStoreEnv) != "postgres" }

// TestInProgressWrites: STORE, COPY and MOVE over a mailbox of thousands
// of messages report at the default pace (every 1,000) while their
// transaction runs: reports in increasing order, the goal right, and the
// tagged OK last. TIDEMARK_PROGRESS_MESSAGES sets the size (e.g. 100000,
// the size RFC 9585's use case speaks of; the suite uses 3,000).
func TestInProgressWrites(t *testing.T) {
	n := 3000
	if v, err := strconv.Atoi(os.Getenv("TIDEMARK_PROGRESS_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	env := newTestEnv(t, func(c *Config) { c.ProgressInterval = -1 })
	a := env.account()
	mb, _ := a.Mailbox(context.Background(), "INBOX")
	for start := 0; start < n; start += 10000 {
		var msgs []store.NewMessage
		for i := start; i < min(n, start+10000); i++ {
			msgs = append(msgs, store.NewMessage{Body: strings.NewReader(fmt.Sprintf("Subject: m%d\r\n\r\nbody %d\r\n", i, i))})
		}
		if _, err := a.Append(context.Background(), mb.ID, msgs); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.CreateMailbox(context.Background(), "Archive", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := env.dial()
	c.loginRev2()
	c.send("s SELECT INBOX")
	c.until("s OK")
	for i, cmd := range []string{"STORE 1:* +FLAGS.SILENT (\\Seen)", "UID COPY 1:* Archive", "MOVE 1:* Archive"} {
		tag := fmt.Sprintf("w%d", i)
		c.send(tag + " " + cmd)
		got := c.until(tag + " ")
		if last := got[len(got)-1]; !strings.HasPrefix(last, tag+" OK") {
			t.Fatalf("%s: %q", cmd, last)
		}
		rep := progressLines(t, tag, got)
		reports := n/1000 + 1
		if !storeCountsWrites() {
			reports = 1
		}
		if len(rep) != reports {
			t.Fatalf("%s: %d reports for %d messages: %q", cmd, len(rep), n, rep)
		}
		for j, r := range rep {
			if want := fmt.Sprintf("%d/%d", j*1000, n); r != want {
				t.Fatalf("%s: report %d is %s, want %s (all: %q)", cmd, j, r, want, rep)
			}
		}
		// The reports precede every other response of the command.
		for j, l := range got[:len(rep)] {
			if !strings.Contains(l, "INPROGRESS") {
				t.Fatalf("%s: line %d %q before the last report", cmd, j, l)
			}
		}
	}
}
