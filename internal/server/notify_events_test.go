package server

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// notifySeedEnv overrides the seed of TestNotifyTwoSessions.
const notifySeedEnv = "TIDEMARK_NOTIFY_SEED"

// TestNotifyTwoSessions: two sessions with NOTIFY on the selected INBOX
// (MessageNew with fetch attributes) and on every other mailbox; a third
// session makes random commits — APPEND to any mailbox, expunges — one at
// a time. After each commit both sessions must have received exactly the
// expected responses, once, in order: STATUS with the new figures for
// another mailbox, EXISTS then FETCH (UID FLAGS ENVELOPE) with the right
// subject for INBOX, EXPUNGE for INBOX; and nothing else (a NOOP at the
// end finds nothing pending). Then a burst of commits without waiting:
// each mailbox's STATUS lines must show strictly growing MESSAGES and end
// at the true figure. Seed 1 by default, logged, TIDEMARK_NOTIFY_SEED to
// choose another.
func TestNotifyTwoSessions(t *testing.T) {
	seed := int64(1)
	if v := os.Getenv(notifySeedEnv); v != "" {
		var err error
		if seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("%s: %v", notifySeedEnv, err)
		}
	}
	t.Logf("seed %d (%s to change)", seed, notifySeedEnv)
	rng := rand.New(rand.NewSource(seed))

	env := newTestEnv(t, nil)
	mbxCreate(t, env.account(), "A", "B", "C")
	sessions := []*client{env.dial(), env.dial()}
	for _, c := range sessions {
		c.loginRev2()
		c.send("s SELECT INBOX")
		c.until("s OK")
		c.send(`n NOTIFY SET (selected (MessageNew (UID FLAGS ENVELOPE) MessageExpunge)) (personal (MessageNew MessageExpunge))`)
		c.expect(`^n OK .*`)
	}
	w := env.dial()
	w.loginRev2()

	boxes := []string{"INBOX", "A", "B", "C"}
	type box struct {
		uids    []int // UIDs present
		uidNext int
	}
	state := map[string]*box{}
	for _, b := range boxes {
		state[b] = &box{uidNext: 1}
	}
	appendTo := func(tag, mailbox, subject string) {
		msg := "Subject: " + subject + "\r\nFrom: w@example.org\r\n\r\nbody\r\n"
		w.send(fmt.Sprintf("%s APPEND %s {%d+}\r\n%s", tag, mailbox, len(msg), msg))
		w.expect(`^` + tag + ` OK .*`)
		b := state[mailbox]
		b.uids = append(b.uids, b.uidNext)
		b.uidNext++
	}
	expungeFrom := func(tag, mailbox string) (uid, seq int) {
		b := state[mailbox]
		i := rng.Intn(len(b.uids))
		uid, seq = b.uids[i], i+1
		w.send(fmt.Sprintf("%sa SELECT %s", tag, mailbox))
		w.until(tag + "a OK")
		w.send(fmt.Sprintf("%sb UID STORE %d +FLAGS.SILENT (\\Deleted)", tag, uid))
		w.expect(`^` + tag + `b OK .*`)
		w.send(fmt.Sprintf("%sc UID EXPUNGE %d", tag, uid))
		w.until(tag + "c OK")
		w.send(tag + "d UNSELECT")
		w.expect(`^` + tag + `d OK .*`)
		b.uids = append(b.uids[:i], b.uids[i+1:]...)
		return uid, seq
	}
	statusLine := func(mailbox string) string {
		b := state[mailbox]
		return fmt.Sprintf(`^\* STATUS %s \(MESSAGES %d UIDNEXT %d UIDVALIDITY \d+\)$`, mailbox, len(b.uids), b.uidNext)
	}

	for step := 0; step < 40; step++ {
		tag := fmt.Sprintf("w%d", step)
		mailbox := boxes[rng.Intn(len(boxes))]
		var want []string
		if len(state[mailbox].uids) > 0 && rng.Intn(3) == 0 {
			_, seq := expungeFrom(tag, mailbox)
			if mailbox == "INBOX" {
				want = []string{fmt.Sprintf(`^\* %d EXPUNGE$`, seq)}
			} else {
				want = []string{statusLine(mailbox)}
			}
		} else {
			subject := fmt.Sprintf("step %d", step)
			appendTo(tag, mailbox, subject)
			if mailbox == "INBOX" {
				b := state["INBOX"]
				n := len(b.uids)
				want = []string{
					fmt.Sprintf(`^\* %d EXISTS$`, n),
					fmt.Sprintf(`^\* %d FETCH \(UID %d FLAGS \(\) ENVELOPE \(NIL "%s" \(\(NIL NIL "w" "example.org"\)\) .*\)\)$`, n, b.uidNext-1, regexp.QuoteMeta(subject)),
				}
			} else {
				want = []string{statusLine(mailbox)}
			}
		}
		for _, c := range sessions {
			c.expect(want...)
		}
	}
	for i, c := range sessions {
		c.notifyIdle(fmt.Sprintf("q%d", i))
	}

	// A burst: commits without waiting for the sessions.
	before := map[string]int{}
	for _, b := range boxes[1:] {
		before[b] = state[b].uidNext - 1
	}
	for step := 0; step < 30; step++ {
		appendTo(fmt.Sprintf("x%d", step), boxes[1+rng.Intn(3)], fmt.Sprintf("burst %d", step))
	}
	w.send("y NOOP")
	w.expect(`^y OK .*`)
	re := regexp.MustCompile(`^\* STATUS ([A-C]) \(MESSAGES (\d+) UIDNEXT (\d+) UIDVALIDITY \d+\)$`)
	for i, c := range sessions {
		last := map[string]int{}
		for b, n := range before {
			last[b] = n
		}
		done := func() bool {
			for _, b := range boxes[1:] {
				if last[b] != state[b].uidNext-1 {
					return false
				}
			}
			return true
		}
		seen := 0
		for !done() {
			l := c.readLine()
			m := re.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("session %d: unexpected %q during the burst", i, l)
			}
			next, _ := strconv.Atoi(m[3])
			if next-1 <= last[m[1]] {
				t.Fatalf("session %d: %q repeats or goes back (last UIDNEXT-1 %d)", i, l, last[m[1]])
			}
			if msgs, _ := strconv.Atoi(m[2]); msgs != len(state[m[1]].uids)-(state[m[1]].uidNext-next) {
				t.Fatalf("session %d: %q: MESSAGES does not fit UIDNEXT", i, l)
			}
			last[m[1]] = next - 1
			seen++
		}
		c.notifyIdle(fmt.Sprintf("z%d", i))
		t.Logf("session %d: 30 burst commits reported in %d STATUS lines", i, seen)
	}
}

// TestNotifyOtherProcess: commits made through a second store over the
// same data — another process on the embedded store (found by its
// poller), another node on PostgreSQL (LISTEN/NOTIFY) — reach a NOTIFY
// session through the same Hub: STATUS for a delivery, LIST for a
// mailbox created and a subscription.
func TestNotifyOtherProcess(t *testing.T) {
	env := newTestEnv(t, nil)
	mbxCreate(t, env.account(), "Other")
	c := env.dial()
	c.loginRev2()
	c.send(`a NOTIFY SET (personal (MessageNew MessageExpunge MailboxName SubscriptionChange))`)
	c.expect(`^a OK .*`)
	other, err := env.reopen().Open(context.Background(), testUser)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	mb, err := other.Mailbox(context.Background(), "Other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Append(context.Background(), mb.ID, []store.NewMessage{{Body: strings.NewReader("Subject: far\r\n\r\nx\r\n")}}); err != nil {
		t.Fatal(err)
	}
	c.expect(`^\* STATUS Other \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+\)$`)
	mbxCreate(t, other, "Remote")
	c.expect(`^\* LIST \(\\HasNoChildren\) "/" Remote$`)
	mbxSubscribe(t, other, "Remote")
	c.expect(`^\* LIST \(\\HasNoChildren \\Subscribed\) "/" Remote$`)
	c.notifyIdle("b")
}
