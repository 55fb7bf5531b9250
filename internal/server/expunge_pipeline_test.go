package server

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// expungeTranscript is a run of STOREs, EXPUNGEs and APPENDs with a
// failing command in the middle: each EXPUNGE, and each APPEND without
// flags, hands the open mailbox what it changed (Box.CommittedExpunge,
// CommittedAppend), and the sync points of the writer and of the IDLE
// session report from that.
var expungeTranscript = []string{
	`a1 UID STORE 2 +FLAGS.SILENT (\Deleted)`,
	`a2 UID EXPUNGE 2`,
	`a3 STORE 4:5 +FLAGS (\Deleted)`,
	`a4 STORE 99 +FLAGS (\Deleted)`,
	`a5 EXPUNGE`,
	`a6 UID EXPUNGE 1:*`,
	`a7 STORE 1 +FLAGS (\Seen)`,
	`a8 UID STORE 8 +FLAGS.SILENT (\Deleted)`,
	`a9 UID EXPUNGE 7:8`,
	appendLine("b1", "", "first"),
	appendLine("b2", `(\Seen $Later) `, "second"),
	`b3 UID STORE 11 +FLAGS (\Flagged)`,
	appendLine("b4", "", "third"),
	`b5 UID FETCH 1:* (FLAGS MODSEQ)`,
}

// appendLine is an APPEND to INBOX with a non-synchronizing literal.
func appendLine(tag, flags, text string) string {
	msg := "Subject: new\r\n\r\n" + text + "\r\n"
	return fmt.Sprintf("%s APPEND INBOX %s{%d+}\r\n%s", tag, flags, len(msg), msg)
}

// appendUID hides the UIDVALIDITY of APPENDUID, which differs between
// servers created at different times.
var appendUID = regexp.MustCompile(`\[APPENDUID \d+ `)

// runExpungeTranscript runs the transcript on a fresh server with ten
// messages while another session of the mailbox is in IDLE, pipelined in
// one write or one command at a time, and returns the writer's lines and
// the EXPUNGE lines the IDLE session was sent.
func runExpungeTranscript(t *testing.T, pipelined bool) (writer, idler []string) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 10, store.Flags{})
	// Read-only, so that it never claims \Recent before the writer does.
	idle := env.dial()
	idle.login()
	idle.send("e EXAMINE INBOX")
	idle.until("e OK")
	idle.send("i IDLE")
	idle.expect(`^\+ `)
	c := env.selectInbox()
	if pipelined {
		if _, err := c.conn.Write([]byte(strings.Join(expungeTranscript, "\r\n") + "\r\n")); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range expungeTranscript {
			writer = append(writer, c.until(strings.Fields(cmd)[0]+" ")...)
		}
	} else {
		for _, cmd := range expungeTranscript {
			c.send(cmd)
			writer = append(writer, c.until(strings.Fields(cmd)[0]+" ")...)
		}
	}
	for i, l := range writer {
		writer[i] = appendUID.ReplaceAllString(l, "[APPENDUID V ")
	}
	// What the last FETCH answered from the open mailbox is what the
	// store holds.
	snap := inboxSnapshot(t, env)
	var fetched []string
	for _, l := range writer {
		if strings.Contains(l, " FETCH (") && strings.Contains(l, "MODSEQ") {
			fetched = append(fetched, l)
		}
	}
	if len(fetched) != len(snap.Messages) {
		t.Fatalf("FETCH gave %q for %d messages", fetched, len(snap.Messages))
	}
	for i, m := range snap.Messages {
		if !strings.Contains(fetched[i], fmt.Sprintf("UID %d ", m.UID)) || !strings.Contains(fetched[i], fmt.Sprintf("MODSEQ (%d)", m.ModSeq)) ||
			strings.Contains(fetched[i], `\Seen`) != (m.Flags.System&store.FlagSeen != 0) ||
			strings.Contains(fetched[i], `\Flagged`) != (m.Flags.System&store.FlagFlagged != 0) {
			t.Fatalf("FETCH %q, the store holds %+v", fetched[i], m)
		}
	}
	idle.send("DONE")
	exists := ""
	for _, l := range idle.until("i ") {
		if strings.HasSuffix(l, " EXPUNGE") {
			idler = append(idler, l)
		}
		if strings.HasSuffix(l, " EXISTS") {
			exists = l
		}
	}
	if exists != "* 9 EXISTS" {
		t.Fatalf("IDLE session's last EXISTS %q, want * 9 EXISTS", exists)
	}
	return writer, idler
}

// inboxSnapshot reads INBOX from the store.
func inboxSnapshot(t *testing.T, env *testEnv) store.Snapshot {
	t.Helper()
	a := env.account()
	mb, err := a.Mailbox(t.Context(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := a.Snapshot(t.Context(), mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// TestPipelinedExpungesAnswerAsOneByOne: the transcript pipelined gives
// the writer exactly the lines it gets one command at a time, the failing
// command alone failing, and the session in IDLE the same EXPUNGEs.
func TestPipelinedExpungesAnswerAsOneByOne(t *testing.T) {
	oneWriter, oneIdler := runExpungeTranscript(t, false)
	pipeWriter, pipeIdler := runExpungeTranscript(t, true)
	if !slices.Equal(oneWriter, pipeWriter) {
		t.Fatalf("pipelined:\n%s\none by one:\n%s", strings.Join(pipeWriter, "\n"), strings.Join(oneWriter, "\n"))
	}
	// UID 2; then UIDs 5 and 6 (sequence numbers 4 and 5 by then, the
	// highest first); then UID 8 (5 by then; UID 7 is not \Deleted).
	wantWriter := []string{"* 2 EXPUNGE", "* 5 EXPUNGE", "* 4 EXPUNGE", "* 5 EXPUNGE"}
	var gotWriter []string
	failed := 0
	for _, l := range oneWriter {
		if strings.HasSuffix(l, " EXPUNGE") {
			gotWriter = append(gotWriter, l)
		}
		if strings.HasPrefix(l, "a") && !strings.Contains(l, " OK ") {
			if !strings.HasPrefix(l, "a4 ") {
				t.Fatalf("%q failed", l)
			}
			failed++
		}
	}
	if failed != 1 || !slices.Equal(gotWriter, wantWriter) {
		t.Fatalf("writer saw EXPUNGEs %q and %d failures, want %q and a4 failing", gotWriter, failed, wantWriter)
	}
	// The IDLE session may be told of several expunges at once (highest
	// first), as it wakes: whatever the grouping, they must leave it the
	// same messages.
	left := []uint32{1, 3, 4, 7, 9, 10}
	for _, lines := range [][]string{oneIdler, pipeIdler} {
		var seqs []uint32
		for _, l := range lines {
			var n uint32
			if _, err := fmt.Sscanf(l, "* %d EXPUNGE", &n); err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, n)
		}
		if got := afterExpunges(10, seqs); !slices.Equal(got, left) {
			t.Fatalf("IDLE session told %q: leaves UIDs %v, want %v", lines, got, left)
		}
	}
}

// afterExpunges applies EXPUNGE responses (sequence numbers, in the order
// sent) to a mailbox of UIDs 1..n and returns the UIDs left.
func afterExpunges(n uint32, seqs []uint32) []uint32 {
	var uids []uint32
	for u := uint32(1); u <= n; u++ {
		uids = append(uids, u)
	}
	for _, s := range seqs {
		if s >= 1 && int(s) <= len(uids) {
			uids = slices.Delete(uids, int(s-1), int(s))
		}
	}
	return uids
}

// TestExpungeToIdleImapclient: go-imap's client in IDLE is told of every
// message another go-imap client expunges with UID EXPUNGE commands sent
// without waiting for each answer, by the right sequence numbers.
func TestExpungeToIdleImapclient(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendMessages("INBOX", 10, store.Flags{})
	expunged := make(chan uint32, 20)
	idler, err := imapclient.DialInsecure(env.addr, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Expunge: func(seq uint32) { expunged <- seq },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer idler.Close()
	if err := idler.Login(testUser, testPass).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := idler.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := idler.Idle()
	if err != nil {
		t.Fatal(err)
	}

	cl := dialImapClient(t, env)
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var stores []*imapclient.FetchCommand
	var expunges []*imapclient.ExpungeCommand
	for _, uid := range []imap.UID{9, 3, 4} {
		stores = append(stores, cl.Store(imap.UIDSetNum(uid), &imap.StoreFlags{
			Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil))
		expunges = append(expunges, cl.UIDExpunge(imap.UIDSetNum(uid)))
	}
	for i := range stores {
		if err := stores[i].Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := expunges[i].Collect(); err != nil {
			t.Fatal(err)
		}
	}
	// Told one by one or several at once, the expunges must leave the
	// IDLE session the messages left.
	want := []uint32{1, 2, 5, 6, 7, 8, 10}
	var got []uint32
	for len(got) < 3 {
		select {
		case seq := <-expunged:
			got = append(got, seq)
		case <-time.After(hangDeadline):
			t.Fatalf("IDLE session told of expunges %v, want three", got)
		}
	}
	if left := afterExpunges(10, got); !slices.Equal(left, want) {
		t.Fatalf("IDLE session told of expunges %v: leaves UIDs %v, want %v", got, left, want)
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := idler.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || st.NumMessages == nil || *st.NumMessages != 7 {
		t.Fatalf("status after the expunges: %+v, %v", st, err)
	}
}
