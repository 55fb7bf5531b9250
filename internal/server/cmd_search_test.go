package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// searchFixture is the mailbox the SEARCH transcripts run against: four
// messages with known flags, dates, sizes and headers.
var searchFixture = []struct {
	raw      string
	flags    store.Flags
	internal time.Time
}{
	{ // UID 1
		raw: "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: Hello world\r\n" +
			"Date: Tue, 1 Feb 1994 10:00:00 +0000\r\nMessage-ID: <one@example.org>\r\n\r\nplain body one\r\n",
		flags:    store.Flags{System: store.FlagSeen},
		internal: time.Date(1994, 2, 1, 10, 0, 0, 0, time.UTC),
	},
	{ // UID 2: RFC 2047 headers and an ISO-8859-1 quoted-printable body
		raw: "From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.org>\r\nTo: bob@example.com\r\n" +
			"Cc: Carol <carol@example.net>\r\nSubject: =?UTF-8?B?Q2Fmw6kgb3LDqGU=?=\r\n" +
			"Date: Tue, 3 Mar 2020 23:30:00 -0800\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
			"Une cr=E8me br=FBl=E9e, s'il vous pla=EEt.\r\n",
		flags:    store.Flags{System: store.FlagFlagged | store.FlagAnswered, Keywords: []string{"$Junk"}},
		internal: time.Date(2020, 3, 5, 0, 30, 0, 0, time.FixedZone("", 2*3600)),
	},
	{ // UID 3: large
		raw: "From: John Smith <smith@example.com>\r\nTo: bob@example.com\r\nBcc: dave@example.com\r\n" +
			"Subject: Quarterly report\r\nX-Priority: 1 (Highest)\r\nDate: Thu, 10 Jun 2021 08:00:00 +0200\r\n\r\n" +
			strings.Repeat("filler line of the report\r\n", 80) + "the needle is here\r\n",
		flags:    store.Flags{System: store.FlagDeleted | store.FlagDraft},
		internal: time.Date(2021, 6, 10, 8, 0, 0, 0, time.FixedZone("", 2*3600)),
	},
	{ // UID 4: multipart, base64 text part, recent internal date
		raw: "From: bob@example.com\r\nTo: alice@example.org\r\nSubject: Photos\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
			"--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			"SGVyZSBpcyB0aGUgc2VjcmV0IHdvcmQ6IMOpbMOpcGhhbnQK\r\n" +
			"--XX\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--XX--\r\n",
		flags: store.Flags{Keywords: []string{"work"}},
		// internal: an hour before the test clock, set by searchEnv
	},
}

// searchEnv starts a server whose INBOX holds searchFixture, and returns a
// logged-in client with INBOX selected.
func searchEnv(t *testing.T) (*testEnv, *client) {
	t.Helper()
	env := newTestEnv(t, nil)
	a := env.account()
	ctx := context.Background()
	mb, err := a.Mailbox(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range searchFixture {
		if i == 3 {
			m.internal = testNow().Add(-time.Hour).Truncate(time.Second)
		}
		msg := store.NewMessage{Body: strings.NewReader(m.raw), Flags: m.flags, InternalDate: m.internal}
		if _, err := a.Append(ctx, mb.ID, []store.NewMessage{msg}); err != nil {
			t.Fatal(err)
		}
	}
	claimedElsewhere(t, a, mb.ID)
	c := env.dial()
	c.login()
	c.send("s SELECT INBOX")
	c.until("s OK")
	return env, c
}

// search sends one command and checks the untagged response lines and the
// tagged status line (regular expressions, as in expect).
func (c *client) search(cmd string, want ...string) {
	c.t.Helper()
	c.send("t " + cmd)
	c.expect(want...)
}

func TestSearchKeys(t *testing.T) {
	_, c := searchEnv(t)
	size := func(i int) int { return len(searchFixture[i].raw) }
	for _, tc := range []struct{ criteria, want string }{
		{"ALL", "1 2 3 4"},
		{"1:2", "1 2"},
		{"2,4:*", "2 4"},
		{"UID 3:*", "3 4"},
		{"UID 9:*", "4"}, // "*" is the highest UID, so 9:* means 4:9
		{"SEEN", "1"},
		{"UNSEEN", "2 3 4"},
		{"ANSWERED", "2"},
		{"UNANSWERED", "1 3 4"},
		{"FLAGGED", "2"},
		{"UNFLAGGED", "1 3 4"},
		{"DELETED", "3"},
		{"UNDELETED", "1 2 4"},
		{"DRAFT", "3"},
		{"UNDRAFT", "1 2 4"},
		{"KEYWORD $junk", "2"},
		{"KEYWORD work", "4"},
		{"UNKEYWORD work", "1 2 3"},
		{"NEW", ""},
		{"RECENT", ""},
		{"OLD", "1 2 3 4"},
		{fmt.Sprintf("LARGER %d", size(2)-1), "3"},
		{fmt.Sprintf("LARGER %d", size(2)), ""},
		{fmt.Sprintf("SMALLER %d", size(0)+1), "1"},
		{"BEFORE 1-Feb-1994", ""},
		{"ON 1-Feb-1994", "1"},
		{"ON 5-Mar-2020", "2"}, // the internal date's own day, not UTC's 4 Mar
		{"SINCE 5-Mar-2020", "2 3 4"},
		{"BEFORE 10-Jun-2021", "1 2"},
		{"SENTBEFORE 3-Mar-2020", "1"},
		{"SENTON 3-Mar-2020", "2"},
		{"SENTSINCE 4-Mar-2020", "3"}, // message 4 has no Date
		{"YOUNGER 86400", "4"},
		{"OLDER 86400", "1 2 3"},
		{"SAVEDATESUPPORTED", "1 2 3 4"},
		{"SAVEDSINCE 1-Jan-2000", "1 2 3 4"},
		{"SAVEDBEFORE 1-Jan-2000", ""},
		{`FROM "andré"`, "2"},
		{`FROM smith`, "3"},
		{`TO alice`, "4"},
		{`CC carol`, "2"},
		{`BCC dave`, "3"},
		{`SUBJECT "CAFÉ"`, "2"},
		{`SUBJECT report`, "3"},
		{`HEADER X-Priority highest`, "3"},
		{`HEADER x-priority ""`, "3"},
		{`HEADER Message-ID "<one@example.org>"`, "1"},
		{`BODY "crème brûlée"`, "2"},
		{`BODY "CRÈME"`, "2"},
		{`BODY needle`, "3"},
		{`BODY "éléphant"`, "4"},
		{`BODY "iVBORw0KGgo"`, ""}, // not a text part
		{`BODY "Quarterly"`, ""},   // header only
		{`TEXT "Quarterly"`, "3"},
		{`TEXT "x-priority: 1"`, "3"},
		{`TEXT "secret word"`, "4"},
		{"NOT SEEN", "2 3 4"},
		{"OR SEEN FLAGGED", "1 2"},
		{"OR (SEEN SUBJECT hello) (DELETED BODY needle)", "1 3"},
		{"NOT (OR SEEN (FLAGGED KEYWORD $Junk))", "3 4"},
		{"UNDELETED NOT 1 OR BODY éléphant TEXT café", ""}, // 8-bit atoms are not atoms
	} {
		if strings.Contains(tc.criteria, "éléphant TEXT") {
			c.search("SEARCH "+tc.criteria, `^t BAD `)
			continue
		}
		want := "* SEARCH"
		if tc.want != "" {
			want += " " + sortedNums(tc.want)
		}
		c.send("t SEARCH " + tc.criteria)
		got := c.expect(`^\* SEARCH`, `^t OK SEARCH completed$`)
		if got[0] != want {
			t.Errorf("SEARCH %s: got %q, want %q", tc.criteria, got[0], want)
		}
	}
}

// sortedNums sorts a space-separated list of numbers.
func sortedNums(s string) string {
	f := strings.Fields(s)
	for i := range f {
		for j := i + 1; j < len(f); j++ {
			if len(f[j]) < len(f[i]) || len(f[j]) == len(f[i]) && f[j] < f[i] {
				f[i], f[j] = f[j], f[i]
			}
		}
	}
	return strings.Join(f, " ")
}

func TestSearchSeqVersusUID(t *testing.T) {
	env, c := searchEnv(t)
	// Expunge UID 1 and report it: sequence numbers shift down by one.
	a := env.account()
	mb, _ := a.Mailbox(context.Background(), "INBOX")
	if _, err := a.Expunge(context.Background(), mb.ID, store.UIDSetOf(1)); err != nil {
		t.Fatal(err)
	}
	c.search("NOOP", `^\* 1 EXPUNGE$`, `^t OK NOOP completed$`)
	c.search("SEARCH UNSEEN", `^\* SEARCH 1 2 3$`, `^t OK SEARCH completed$`)
	c.search("UID SEARCH UNSEEN", `^\* SEARCH 2 3 4$`, `^t OK UID SEARCH completed$`)
	c.search("UID SEARCH 1", `^\* SEARCH 2$`, `^t OK UID SEARCH completed$`)
	c.search("SEARCH UID 1:2", `^\* SEARCH 1$`, `^t OK SEARCH completed$`)
	c.search("UID SEARCH RETURN (MIN MAX) 2:3", `^\* ESEARCH \(TAG "t"\) UID MIN 3 MAX 4$`, `^t OK `)
	// A sequence number beyond the mailbox matches nothing (a search key
	// is a criterion); FETCH still refuses it.
	c.search("SEARCH 4", `^\* SEARCH$`, `^t OK SEARCH completed$`)
	c.search("FETCH 4 FLAGS", `^t BAD Invalid message sequence number$`)

	// An expunge the client has not been told of: the message keeps its
	// sequence number but no longer matches, and no EXPUNGE is sent during
	// SEARCH (RFC 9051 7.4.1); UID SEARCH may send it.
	if _, err := a.Expunge(context.Background(), mb.ID, store.UIDSetOf(3)); err != nil {
		t.Fatal(err)
	}
	c.search("SEARCH 1:3", `^\* SEARCH 1 3$`, `^t OK SEARCH completed$`)
	c.search("UID SEARCH ALL", `^\* SEARCH 2 4$`, `^\* 2 EXPUNGE$`, `^t OK UID SEARCH completed$`)
	c.search("SEARCH ALL", `^\* SEARCH 1 2$`, `^t OK SEARCH completed$`)

	// New messages appear only after their EXISTS.
	env.appendMessages("INBOX", 1, store.Flags{})
	c.search("SEARCH UNSEEN", `^\* SEARCH 1 2$`, `^\* 3 EXISTS$`, `^\* 0 RECENT$`, `^t OK SEARCH completed$`)
	c.search("SEARCH UNSEEN", `^\* SEARCH 1 2 3$`, `^t OK SEARCH completed$`)
}

func TestSearchESearch(t *testing.T) {
	_, c := searchEnv(t)
	for _, tc := range []struct{ cmd, want string }{
		{"SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN", `* ESEARCH (TAG "t") MIN 2 MAX 4 ALL 2:4 COUNT 3`},
		{"SEARCH RETURN () NOT FLAGGED", `* ESEARCH (TAG "t") ALL 1,3:4`},
		{"SEARCH RETURN (COUNT) DELETED", `* ESEARCH (TAG "t") COUNT 1`},
		{"SEARCH RETURN (MIN) UNSEEN", `* ESEARCH (TAG "t") MIN 2`},
		{"UID SEARCH RETURN (ALL) OR SEEN DRAFT", `* ESEARCH (TAG "t") UID ALL 1,3`},
		{"SEARCH RETURN (MIN MAX ALL) SUBJECT nothing", `* ESEARCH (TAG "t")`},
		{"SEARCH RETURN (COUNT MIN) SUBJECT nothing", `* ESEARCH (TAG "t") COUNT 0`},
		{"UID SEARCH RETURN (ALL) SUBJECT nothing", `* ESEARCH (TAG "t") UID`},
		{"SEARCH RETURN (all Count) CHARSET utf-8 BODY \"crème\"", `* ESEARCH (TAG "t") ALL 2 COUNT 1`},
	} {
		c.send("t " + tc.cmd)
		got := c.expect(`^\* ESEARCH`, `^t OK `)
		if got[0] != tc.want {
			t.Errorf("%s: got %q, want %q", tc.cmd, got[0], tc.want)
		}
	}
}

func TestSearchRev2(t *testing.T) {
	_, c := searchEnv(t)
	c.search("ENABLE IMAP4rev2", `^\* ENABLED IMAP4rev2$`, `^t OK `)
	// RFC 9051 6.4.4: no RETURN means ALL, always as ESEARCH.
	c.search("SEARCH UNSEEN", `^\* ESEARCH \(TAG "t"\) ALL 2:4$`, `^t OK SEARCH completed$`)
	c.search("UID SEARCH SEEN", `^\* ESEARCH \(TAG "t"\) UID ALL 1$`, `^t OK UID SEARCH completed$`)
	c.search(`SEARCH TEXT "string not in mailbox"`, `^\* ESEARCH \(TAG "t"\)$`, `^t OK `)
	// The charset is UTF-8 by default; 8-bit text arrives as a literal.
	c.send("t SEARCH TEXT {5+}")
	c.send("Café")
	c.expect(`^\* ESEARCH \(TAG "t"\) ALL 2$`, `^t OK `)
	c.search(`SEARCH SUBJECT "orè"`, `^\* ESEARCH \(TAG "t"\) ALL 2$`, `^t OK `)
}

func TestSearchSave(t *testing.T) {
	env, c := searchEnv(t)
	// "$" before any SAVE is empty, not an error.
	c.search("SEARCH $", `^\* SEARCH$`, `^t OK SEARCH completed$`)
	// SAVE alone suppresses ESEARCH (RFC 9051 6.4.4).
	c.search("SEARCH RETURN (SAVE) UNSEEN", `^t OK SEARCH completed, result saved$`)
	c.search("SEARCH $", `^\* SEARCH 2 3 4$`, `^t OK `)
	c.search("UID SEARCH $ SMALLER 1000", `^\* SEARCH 2 4$`, `^t OK `)
	c.search("UID SEARCH UID $ FLAGGED", `^\* SEARCH 2$`, `^t OK `)
	c.search("SEARCH OR $ 1 NOT KEYWORD work", `^\* SEARCH 1 2 3$`, `^t OK `)
	c.search("FETCH $ (UID)", `^\* 2 FETCH \(UID 2\)$`, `^\* 3 FETCH \(UID 3\)$`, `^\* 4 FETCH \(UID 4\)$`, `^t OK `)

	// MIN/MAX without ALL or COUNT save only those (RFC 9051 6.4.4.1).
	c.search("SEARCH RETURN (SAVE MAX MIN) UNSEEN", `^\* ESEARCH \(TAG "t"\) MIN 2 MAX 4$`, `^t OK `)
	c.search("SEARCH $", `^\* SEARCH 2 4$`, `^t OK `)
	c.search("SEARCH RETURN (SAVE MIN COUNT) UNSEEN", `^\* ESEARCH \(TAG "t"\) MIN 2 COUNT 3$`, `^t OK `)
	c.search("SEARCH $", `^\* SEARCH 2 3 4$`, `^t OK `)
	// A SAVE that uses "$" uses the old value, then replaces it.
	c.search("UID SEARCH RETURN (SAVE ALL) $ UNDELETED", `^\* ESEARCH \(TAG "t"\) UID ALL 2,4$`, `^t OK `)
	c.search("SEARCH $", `^\* SEARCH 2 4$`, `^t OK `)
	// BAD leaves the variable alone; NO empties it.
	c.search("SEARCH RETURN (SAVE) FOO", `^t BAD `)
	c.search("SEARCH $", `^\* SEARCH 2 4$`, `^t OK `)
	c.search("SEARCH RETURN (SAVE) CHARSET KOI8-R SUBJECT x", `^t NO \[BADCHARSET \(UTF-8 US-ASCII\)\] `)
	c.search("SEARCH $", `^\* SEARCH$`, `^t OK `)

	// Saved as UIDs: an expunge shrinks the set (RFC 5182 2.1), and the
	// sequence numbers follow.
	c.search("SEARCH RETURN (SAVE) ALL", `^t OK `)
	a := env.account()
	mb, _ := a.Mailbox(context.Background(), "INBOX")
	if _, err := a.Expunge(context.Background(), mb.ID, store.UIDSetOf(2)); err != nil {
		t.Fatal(err)
	}
	c.search("NOOP", `^\* 2 EXPUNGE$`, `^t OK `)
	c.search("SEARCH $", `^\* SEARCH 1 2 3$`, `^t OK `)
	c.search("UID SEARCH $", `^\* SEARCH 1 3 4$`, `^t OK `)

	// SELECT resets it, and so do CLOSE and UNSELECT.
	c.search("SELECT INBOX", `^\* OK \[CLOSED\] `)
	c.until("t OK")
	c.search("SEARCH $", `^\* SEARCH$`, `^t OK `)
	c.search("SEARCH RETURN (SAVE) ALL", `^t OK `)
	c.search("UNSELECT", `^t OK `)
	c.search("EXAMINE INBOX", `^\* FLAGS `)
	c.until("t OK")
	c.search("SEARCH $", `^\* SEARCH$`, `^t OK `)
}

func TestSearchModSeq(t *testing.T) {
	env, c := searchEnv(t)
	a := env.account()
	mb, _ := a.Mailbox(context.Background(), "INBOX")
	res, err := a.SetFlags(context.Background(), mb.ID, store.UIDSetOf(1, 3), store.FlagsAdd, store.Flags{Keywords: []string{"later"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	ms := res.ModSeq
	c.search("NOOP", `^\* FLAGS `, `^\* OK \[PERMANENTFLAGS `, `^\* 1 FETCH `, `^\* 3 FETCH `, `^t OK `)
	// MODSEQ enables CONDSTORE (RFC 7162 3.1), which announces HIGHESTMODSEQ.
	c.send(fmt.Sprintf("t SEARCH MODSEQ %d", ms))
	if got := c.until("* SEARCH"); got[len(got)-1] != fmt.Sprintf("* SEARCH 1 3 (MODSEQ %d)", ms) {
		t.Fatalf("SEARCH MODSEQ: %q", got)
	}
	c.expect(`^t OK `)
	c.search(fmt.Sprintf(`SEARCH MODSEQ "/flags/\\draft" all %d`, ms+1), `^\* SEARCH$`, `^t OK `)
	c.search(fmt.Sprintf(`SEARCH OR NOT MODSEQ %d LARGER 50000`, ms), `^\* SEARCH 2 4 \(MODSEQ \d+\)$`, `^t OK `)
	c.search(fmt.Sprintf("UID SEARCH RETURN (ALL) MODSEQ %d", ms), fmt.Sprintf(`^\* ESEARCH \(TAG "t"\) UID ALL 1,3 MODSEQ %d$`, ms), `^t OK `)
	c.search("SEARCH RETURN (MIN) MODSEQ 1 KEYWORD $Junk", `^\* ESEARCH \(TAG "t"\) MIN 2 MODSEQ \d+$`, `^t OK `)
	c.search(fmt.Sprintf("SEARCH RETURN (COUNT) MODSEQ %d", ms+1), `^\* ESEARCH \(TAG "t"\) COUNT 0$`, `^t OK `)
}

func TestSearchErrors(t *testing.T) {
	_, c := searchEnv(t)
	for _, tc := range []struct{ cmd, want string }{
		{"SEARCH", `^t BAD `},
		{"SEARCH ", `^t BAD `},
		{"SEARCH FOO", `^t BAD `},
		{"SEARCH (SEEN", `^t BAD `},
		{"SEARCH OR SEEN", `^t BAD `},
		{"SEARCH BEFORE 32-Jan-2020", `^t BAD `},
		{"SEARCH LARGER x", `^t BAD `},
		{"SEARCH RETURN (FOO) ALL", `^t BAD \[CLIENTBUG\] Unknown SEARCH return option FOO$`},
		{"SEARCH RETURN ALL", `^t BAD `},
		{"SEARCH RETURN (ALL)", `^t BAD `},
		{"SEARCH CHARSET KOI8-R ALL", `^t NO \[BADCHARSET \(UTF-8 US-ASCII\)\] Unsupported charset KOI8-R$`},
		{"SEARCH CHARSET US-ASCII SEEN", `^\* SEARCH 1$`},
		{"SEARCH " + strings.Repeat("NOT ", 100) + "ALL", `^t BAD \[LIMIT\] `},
	} {
		c.send("t " + tc.cmd)
		c.expect(tc.want)
		if strings.HasPrefix(tc.want, `^\*`) {
			c.expect(`^t OK `)
		}
	}
	c.search("ENABLE UTF8=ACCEPT", `^\* ENABLED UTF8=ACCEPT$`, `^t OK `)
	c.search("SEARCH CHARSET UTF-8 SEEN", `^t BAD \[CLIENTBUG\] `)
	c.search("SEARCH SEEN", `^\* SEARCH 1$`, `^t OK `)
	c.search("UNSELECT", `^t OK `)
	c.search("SEARCH ALL", `^t BAD SEARCH is not valid in the authenticated state$`)
}

func TestSearchObjectIDs(t *testing.T) {
	env, c := searchEnv(t)
	a := env.account()
	mb, _ := a.Mailbox(context.Background(), "INBOX")
	var ids []store.MessageData
	err := a.Messages(context.Background(), mb.ID, store.UIDSetOf(2, 3), func(m *store.MessageData) error {
		ids = append(ids, *m)
		return nil
	})
	if err != nil || len(ids) != 2 || ids[0].EmailID == "" {
		t.Fatalf("messages: %v %+v", err, ids)
	}
	// RFC 8474 6: EMAILID and THREADID as search keys.
	c.search("UID SEARCH EMAILID "+ids[1].EmailID, `^\* SEARCH 3$`, `^t OK `)
	c.search("SEARCH OR EMAILID "+ids[0].EmailID+" EMAILID "+ids[1].EmailID, `^\* SEARCH 2 3$`, `^t OK `)
	c.search("SEARCH EMAILID Mnonexistent", `^\* SEARCH$`, `^t OK `)
	if ids[0].ThreadID != "" {
		c.search("UID SEARCH THREADID "+ids[0].ThreadID+" UID 2", `^\* SEARCH 2$`, `^t OK `)
	}
	c.search("SEARCH EMAILID bad.id", `^t BAD `)
}

// TestSearchPastTheEnd: sequence numbers and UIDs beyond the mailbox are
// criteria that match nothing, answered OK, in every SEARCH form; FETCH
// and STORE keep answering BAD for a sequence number past the end.
func TestSearchPastTheEnd(t *testing.T) {
	env, c := searchEnv(t) // four messages, UIDs 1-4
	for _, tc := range []struct{ cmd, want string }{
		{"SEARCH 1000", `^\* SEARCH$`},
		{"SEARCH 3:1000", `^\* SEARCH 3 4$`},
		{"SEARCH 1000:*", `^\* SEARCH 4$`}, // "*" is the last message (RFC 9051 9)
		{"SEARCH 2,1000 UNSEEN", `^\* SEARCH 2$`},
		{"SEARCH NOT 1000", `^\* SEARCH 1 2 3 4$`},
		{"SEARCH RETURN (MIN) 1000", `^\* ESEARCH \(TAG "t"\)$`},
		{"SEARCH RETURN (COUNT) 5:7", `^\* ESEARCH \(TAG "t"\) COUNT 0$`},
		{"UID SEARCH 1000", `^\* SEARCH$`},
		{"UID SEARCH UID 4:1000", `^\* SEARCH 4$`},
		{"UID SEARCH RETURN (MIN) 5", `^\* ESEARCH \(TAG "t"\) UID$`},
		{"SEARCH UID 4294967295", `^\* SEARCH$`},
	} {
		c.search(tc.cmd, tc.want, `^t OK `)
	}
	c.search("FETCH 5 FLAGS", `^t BAD Invalid message sequence number$`)
	c.search("STORE 5 +FLAGS (x)", `^t BAD Invalid message sequence number$`)

	// The same through go-imap's client.
	cl := dialImapClient(t, env)
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var seqs imap.SeqSet
	seqs.AddRange(3, 1000)
	data, err := cl.Search(&imap.SearchCriteria{SeqNum: []imap.SeqSet{seqs}}, nil).Wait()
	if err != nil {
		t.Fatalf("SEARCH 3:1000: %v", err)
	}
	if got := data.AllSeqNums(); !slices.Equal(got, []uint32{3, 4}) {
		t.Fatalf("SEARCH 3:1000 = %v, want [3 4]", got)
	}
	var uids imap.UIDSet
	uids.AddNum(1000)
	data, err = cl.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{uids}}, nil).Wait()
	if err != nil || len(data.AllUIDs()) != 0 {
		t.Fatalf("UID SEARCH 1000: %v, %v", data, err)
	}
}
