package server

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// sortFixture is the mailbox the SORT and THREAD transcripts run against.
// A filler message is appended first and expunged, so message n has UID
// n+1 and SORT and UID SORT answers differ. In UTC the sent dates are: 3
// none (INTERNALDATE 1990), 6 07:00, 1 and 4 10:00 (identical), 2 11:00,
// 5 12:00 on 1 Feb 1994.
var sortFixture = []struct {
	raw      string
	internal time.Time
}{
	{ // 1
		"From: Aaron <zed@a>\r\nTo: Bob <bob@a>\r\nCc: carol@a\r\nSubject: Hello\r\n" +
			"Date: Tue, 1 Feb 1994 10:00:00 +0000\r\nMessage-ID: <1@x>\r\n\r\none\r\n",
		time.Date(2000, 1, 5, 0, 0, 0, 0, time.UTC),
	},
	{ // 2: encoded words in the subject and the display name
		"From: =?UTF-8?Q?=C3=89mile?= <emile@a>\r\nTo: alice@a\r\nSubject: =?UTF-8?Q?Re:_Hello?=\r\n" +
			"Date: Tue, 1 Feb 1994 09:00:00 -0200\r\nMessage-ID: <2@x>\r\nIn-Reply-To: <1@x>\r\n\r\ntwo two\r\n",
		time.Date(2000, 1, 3, 0, 0, 0, 0, time.UTC),
	},
	{ // 3: no Date header: INTERNALDATE is the sent date
		"From: adam@a\r\nTo: Zoe <zoe@a>\r\nSubject: [list] Fwd: Budget\r\nMessage-ID: <3@x>\r\n\r\nthree three three\r\n",
		time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC),
	},
	{ // 4: the same sent date as 1
		"From: Bob <BOB@a>\r\nSubject: Budget (fwd)\r\nDate: Tue, 1 Feb 1994 10:00:00 +0000\r\n" +
			"Message-ID: <4@x>\r\nReferences: <3@x>\r\n\r\nfour\r\n",
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
	},
	{ // 5: no From; the first reference is missing
		"Subject: Re: Re: hello\r\nDate: Tue, 1 Feb 1994 12:00:00 +0000\r\n" +
			"Message-ID: <5@x>\r\nReferences: <missing@x> <2@x>\r\n\r\nfive\r\n",
		time.Date(2000, 1, 7, 0, 0, 0, 0, time.UTC),
	},
	{ // 6: its parent is missing
		"From: carol@a\r\nSubject: [Fwd: Budget]\r\nDate: Mon, 31 Jan 1994 23:00:00 -0800\r\n" +
			"Message-ID: <6@x>\r\nReferences: <gone@x>\r\n\r\nsix six six six six six six\r\n",
		time.Date(2000, 1, 6, 0, 0, 0, 0, time.UTC),
	},
}

// uidRecorder is the real store, recording the UIDs every Messages call
// asks for: the probe that shows which requests read message data.
type uidRecorder struct {
	store.Store
	mu   sync.Mutex
	uids store.UIDSet
	n    int
}

func (r *uidRecorder) Open(ctx context.Context, user string) (store.Account, error) {
	a, err := r.Store.Open(ctx, user)
	if err != nil {
		return nil, err
	}
	return &uidRecordingAccount{Account: a, r: r}, nil
}

func (r *uidRecorder) take() (store.UIDSet, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u, n := r.uids, r.n
	r.uids, r.n = nil, 0
	return u, n
}

type uidRecordingAccount struct {
	store.Account
	r *uidRecorder
}

func (a *uidRecordingAccount) Messages(ctx context.Context, id store.MailboxID, uids store.UIDSet, fn func(*store.MessageData) error) error {
	a.r.mu.Lock()
	for _, r := range uids {
		a.r.uids.AddRange(r.Start, r.Stop)
	}
	a.r.n++
	a.r.mu.Unlock()
	return a.Account.Messages(ctx, id, uids, fn)
}

func (a *uidRecordingAccount) ClaimRecent(ctx context.Context, id store.MailboxID, upTo store.UID) (store.UID, error) {
	return a.Account.(store.RecentStore).ClaimRecent(ctx, id, upTo)
}

func (a *uidRecordingAccount) RecentCount(ctx context.Context, id store.MailboxID) (uint32, error) {
	return a.Account.(store.RecentStore).RecentCount(ctx, id)
}

// sortEnv starts a server whose INBOX holds sortFixture and returns a
// logged-in client with INBOX selected, and the store probe.
func sortEnv(t *testing.T) (*testEnv, *client, *uidRecorder) {
	t.Helper()
	var rec *uidRecorder
	env := newTestEnv(t, func(c *Config) {
		rec = &uidRecorder{Store: c.Store}
		c.Store = rec
	})
	a := env.account()
	ctx := context.Background()
	mb, err := a.Mailbox(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Append(ctx, mb.ID, []store.NewMessage{{Body: strings.NewReader("Subject: filler\r\n\r\nx\r\n")}})
	if err != nil {
		t.Fatal(err)
	}
	var filler store.UIDSet
	filler.Add(res.UIDs[0])
	if _, err := a.Expunge(ctx, mb.ID, filler); err != nil {
		t.Fatal(err)
	}
	for _, m := range sortFixture {
		msg := store.NewMessage{Body: strings.NewReader(m.raw), InternalDate: m.internal}
		if _, err := a.Append(ctx, mb.ID, []store.NewMessage{msg}); err != nil {
			t.Fatal(err)
		}
	}
	claimedElsewhere(t, a, mb.ID)
	c := env.dial()
	c.login()
	c.send("s SELECT INBOX")
	c.until("s OK")
	rec.take()
	return env, c, rec
}

func TestSortCapability(t *testing.T) {
	env := newTestEnv(t, nil)
	c := env.dial()
	c.login()
	c.send("c CAPABILITY")
	l := c.expect(`^\* CAPABILITY .*`, `^c OK`)[0]
	for _, w := range []string{"SORT", "SORT=DISPLAY", "ESORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "THREAD=REFS"} {
		if !strings.Contains(l+" ", " "+w+" ") {
			t.Errorf("CAPABILITY lacks %s: %s", w, l)
		}
	}
}

func TestSortCriteria(t *testing.T) {
	_, c, _ := sortEnv(t)
	for _, x := range []struct{ cmd, want string }{
		{"SORT (DATE) UTF-8 ALL", "3 6 1 4 2 5"},
		{"SORT (REVERSE DATE) UTF-8 ALL", "5 2 1 4 6 3"}, // 1 and 4 tie: sequence order stays
		{"SORT (ARRIVAL) UTF-8 ALL", "3 4 2 1 6 5"},
		{"SORT (FROM) UTF-8 ALL", "5 3 4 6 2 1"},        // addr-mailbox; none sorts first
		{"SORT (DISPLAYFROM) UTF-8 ALL", "5 1 3 4 6 2"}, // Aaron, adam@a, Bob, carol@a, Émile
		{"SORT (TO) UTF-8 ALL", "4 5 6 2 1 3"},
		{"SORT (DISPLAYTO) UTF-8 ALL", "4 5 6 2 1 3"},
		{"SORT (CC) UTF-8 ALL", "2 3 4 5 6 1"},
		{"SORT (SIZE) UTF-8 ALL", sizeOrder()},
		{"SORT (SUBJECT) UTF-8 ALL", "3 4 6 1 2 5"},
		{"SORT (SUBJECT REVERSE DATE) UTF-8 ALL", "4 6 3 5 2 1"},
		{"SORT (REVERSE SUBJECT DATE) UTF-8 ALL", "1 2 5 3 6 4"},
		{"sort (subject date) us-ascii all", "3 6 4 1 2 5"},
		{"SORT (DATE) UTF-8 FROM bob", "4"},
		{"SORT (DATE) UTF-8 2:4", "3 4 2"},
		{"SORT (SUBJECT) US-ASCII TEXT \"not in mailbox\"", ""},
	} {
		c.send("t " + x.cmd)
		want := "^\\* SORT$"
		if x.want != "" {
			want = "^\\* SORT " + x.want + "$"
		}
		c.expect(want, `^t OK`)
	}
	// UID SORT: UIDs are sequence numbers plus one here.
	c.send("u UID SORT (DATE) UTF-8 ALL")
	c.expect(`^\* SORT 4 7 2 5 3 6$`, `^u OK`)
	c.send("u UID SORT (DATE) UTF-8 UID 2:4")
	c.expect(`^\* SORT 4 2 3$`, `^u OK`)
}

// sizeOrder is the SIZE order of the fixture, computed from the bytes.
func sizeOrder() string {
	idx := []int{1, 2, 3, 4, 5, 6}
	for i := range idx {
		for j := i + 1; j < len(idx); j++ {
			if len(sortFixture[idx[j]-1].raw) < len(sortFixture[idx[i]-1].raw) {
				idx[i], idx[j] = idx[j], idx[i]
			}
		}
	}
	var b strings.Builder
	for i, n := range idx {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(rune('0' + n)))
	}
	return b.String()
}

func TestSortErrors(t *testing.T) {
	_, c, _ := sortEnv(t)
	c.send("a SORT (DATE) KOI8-R ALL")
	c.expect(`^a NO \[BADCHARSET \(UTF-8 US-ASCII\)\] .*`)
	c.send("b SORT (WEIGHT) UTF-8 ALL")
	c.expect(`^b BAD .*`)
	c.send("c SORT () UTF-8 ALL")
	c.expect(`^c BAD .*`)
	c.send("d SORT (DATE) ALL")
	c.expect(`^d BAD .*`)
	c.send("e SORT (REVERSE) UTF-8 ALL")
	c.expect(`^e BAD .*`)
	c.send("f SORT RETURN (FOO) (DATE) UTF-8 ALL")
	c.expect(`^f BAD .*`)
	c.send("g SORT (DATE) UTF-8 ALL")
	c.expect(`^\* SORT 3 6 1 4 2 5$`, `^g OK`)
	env := newTestEnv(t, nil)
	c2 := env.dial()
	c2.login()
	c2.send("h SORT (DATE) UTF-8 ALL")
	c2.expect(`^h BAD .*`) // not selected
}

// TestSortRFC5256Examples runs the shapes of RFC 5256's SORT examples.
func TestSortRFC5256Examples(t *testing.T) {
	_, c, _ := sortEnv(t)
	c.send("A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994")
	c.expect(`^\* SORT 4 6 1 2 5$`, `^A282 OK .*`)
	c.send("A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL")
	c.expect(`^\* SORT 4 6 3 5 2 1$`, `^A283 OK .*`)
	c.send(`A284 SORT (SUBJECT) US-ASCII TEXT "not in mailbox"`)
	c.expect(`^\* SORT$`, `^A284 OK .*`)
}

// TestESort: the result options of ESORT (RFC 5267 3), in sort order.
func TestESort(t *testing.T) {
	_, c, _ := sortEnv(t)
	c.send("E01 UID SORT RETURN () (REVERSE DATE) UTF-8 ALL")
	c.expect(`^\* ESEARCH \(TAG "E01"\) UID ALL 6,3,2,5,7,4$`, `^E01 OK`)
	c.send("E02 SORT RETURN (MIN MAX COUNT) (DATE) UTF-8 ALL")
	c.expect(`^\* ESEARCH \(TAG "E02"\) MIN 3 MAX 5 COUNT 6$`, `^E02 OK`)
	c.send("E03 SORT RETURN (ALL) (SUBJECT) UTF-8 ALL")
	c.expect(`^\* ESEARCH \(TAG "E03"\) ALL 3:4,6,1:2,5$`, `^E03 OK`)
	c.send(`E04 SORT RETURN (COUNT ALL) (DATE) UTF-8 TEXT "not in mailbox"`)
	c.expect(`^\* ESEARCH \(TAG "E04"\) COUNT 0$`, `^E04 OK`)
}

// TestSortModSeq: RFC 7162 3.1.5 and 3.1.6, MODSEQ in SORT and ESORT.
func TestSortModSeq(t *testing.T) {
	_, c, _ := sortEnv(t)
	c.send("s1 STORE 4 +FLAGS (\\Flagged)")
	c.until("s1 OK")
	c.send("m1 SORT (DATE) UTF-8 MODSEQ 1")
	l := c.expect(`^\* OK \[HIGHESTMODSEQ \d+\].*`, `^\* SORT 3 6 1 4 2 5 \(MODSEQ \d+\)$`, `^m1 OK`)[1]
	c.send("f FETCH 4 (MODSEQ)")
	f := c.expect(`^\* 4 FETCH \(MODSEQ \(\d+\)\)$`, `^f OK`)[0]
	m := regexp.MustCompile(`MODSEQ \((\d+)\)`).FindStringSubmatch(f)[1]
	if !strings.HasSuffix(l, "(MODSEQ "+m+")") {
		t.Errorf("SORT MODSEQ: %q, the highest modseq is message 4's, %s", l, m)
	}
	c.send("m2 SORT (DATE) UTF-8 MODSEQ " + m)
	c.expect(`^\* SORT 4 \(MODSEQ `+m+`\)$`, `^m2 OK`)
	c.send("m3 SORT RETURN (MIN) (DATE) UTF-8 MODSEQ 1")
	c.expect(`^\* ESEARCH \(TAG "m3"\) MIN 3 MODSEQ \d+$`, `^m3 OK`)
	c.send("m4 SORT (DATE) UTF-8 MODSEQ 100000")
	c.expect(`^\* SORT$`, `^m4 OK`)
}

// TestSortFromMemory: the second SORT of an unchanged mailbox reads no
// message data; after an append only the new message is read, and the
// answer follows appends, flag changes and expunges.
func TestSortFromMemory(t *testing.T) {
	env, c, rec := sortEnv(t)
	c.send("a SORT (DATE) UTF-8 ALL")
	c.expect(`^\* SORT 3 6 1 4 2 5$`, `^a OK`)
	if u, _ := rec.take(); u.String() != "2:7" {
		t.Errorf("first SORT read %v, want 2:7", u)
	}
	c.send("b SORT (DATE) UTF-8 ALL")
	c.expect(`^\* SORT 3 6 1 4 2 5$`, `^b OK`)
	c.send("c THREAD REFERENCES UTF-8 ALL")
	c.expect(`^\* THREAD .*`, `^c OK`)
	c.send("d SORT (REVERSE SUBJECT) UTF-8 UNSEEN")
	c.expect(`^\* SORT 1 2 5 3 4 6$`, `^d OK`)
	if u, n := rec.take(); n != 0 {
		t.Errorf("repeated SORT and THREAD read %v in %d calls, want nothing", u, n)
	}
	a := env.account()
	mb, _ := a.Mailbox(context.Background(), "INBOX")
	if _, err := a.Append(context.Background(), mb.ID, []store.NewMessage{{
		Body: strings.NewReader("Subject: early\r\nDate: 1 Jan 1980 00:00:00 +0000\r\n\r\nx\r\n"),
	}}); err != nil {
		t.Fatal(err)
	}
	c.send("n NOOP")
	c.until("n OK")
	c.send("e SORT (DATE) UTF-8 ALL")
	c.expect(`^\* SORT 7 3 6 1 4 2 5$`, `^e OK`)
	if u, _ := rec.take(); u.String() != "8" {
		t.Errorf("SORT after an append read %v, want only 8", u)
	}
	c.send("f STORE 1 +FLAGS.SILENT (\\Seen)")
	c.until("f OK")
	c.send("g SORT (DATE) UTF-8 UNSEEN")
	c.expect(`^\* SORT 7 3 6 4 2 5$`, `^g OK`)
	c.send("h STORE 3 +FLAGS.SILENT (\\Deleted)")
	c.until("h OK")
	c.send("i EXPUNGE")
	c.until("i OK")
	c.send("j SORT (DATE) UTF-8 ALL")
	c.expect(`^\* SORT 6 5 1 3 2 4$`, `^j OK`)
	if u, n := rec.take(); n != 0 {
		t.Errorf("SORT after flag changes and an expunge read %v, want nothing", u)
	}
}

func TestSplitUIDSet(t *testing.T) {
	var set store.UIDSet
	set.AddRange(1, 3)
	set.AddRange(10, 20)
	set.AddRange(30, 30)
	for _, c := range []struct {
		n    int
		a, b string
	}{
		{2, "1:2", "3,10:20,30"},
		{3, "1:3", "10:20,30"},
		{5, "1:3,10:11", "12:20,30"},
		{14, "1:3,10:20", "30"},
	} {
		p := splitUIDSet(set, c.n)
		if p[0].String() != c.a || p[1].String() != c.b {
			t.Errorf("split after %d: %v %v, want %s %s", c.n, p[0], p[1], c.a, c.b)
		}
	}
}
