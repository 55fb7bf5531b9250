package server

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// The message the URLAUTH tests point into, UID 20 of joe's INBOX as in
// RFC 4467's examples: part 1.2 is the 28 octets of the RFC's URLFETCH,
// part 2 is base64 of bytes holding NUL, part 3 has an encoding nobody
// knows.
const urlauthMsg = "From: joe@example.com\r\n" +
	"Subject: war and peace\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n" +
	"\r\n" +
	"--outer\r\n" +
	"Content-Type: multipart/alternative; boundary=\"inner\"\r\n" +
	"\r\n" +
	"--inner\r\n" +
	"Content-Type: text/plain; charset=us-ascii\r\n" +
	"\r\n" +
	"Igitur qui desiderat pacem.\r\n" +
	"--inner\r\n" +
	"Content-Type: text/plain; charset=us-ascii\r\n" +
	"\r\n" +
	"Si vis pacem, para bellum.\r\n" +
	"\r\n" +
	"--inner--\r\n" +
	"--outer\r\n" +
	"Content-Type: application/octet-stream\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"AAECAwBoaQ==\r\n" +
	"--outer\r\n" +
	"Content-Type: application/x-odd\r\n" +
	"Content-Transfer-Encoding: x-rot13\r\n" +
	"\r\n" +
	"uryyb\r\n" +
	"--outer--\r\n"

// The RFC's rump and users: joe owns the mailbox, fred is another user,
// submitd the submission server's account.
const (
	urlauthPart = "imap://joe@example.com/INBOX/;uid=20/;section=1.2"
	urlauthRump = urlauthPart + ";urlauth=submit+fred"
	urlauthData = "Si vis pacem, para bellum.\r\n"
)

// extraUsers lets more users than the test user log in.
type extraUsers struct {
	Authenticator
	passwords map[string]string
}

func (x extraUsers) Authenticate(ctx context.Context, user, password string, remote netip.Addr) error {
	if p, ok := x.passwords[user]; ok {
		if p == password {
			return nil
		}
		return ErrAuthFailed
	}
	return x.Authenticator.Authenticate(ctx, user, password, remote)
}

// urlauthEnv is a server with users joe (UID 20 of INBOX holds
// urlauthMsg), fred and submitd (a submission server's account), whose
// clock the test sets.
type urlauthEnv struct {
	*testEnv
	now *atomic.Pointer[time.Time]
}

// urlauthClock is the instant the URLAUTH tests start at; nothing depends
// on the real date.
var urlauthClock = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

func newURLAuthEnv(t *testing.T) urlauthEnv {
	t.Helper()
	now := &atomic.Pointer[time.Time]{}
	start := urlauthClock
	now.Store(&start)
	env := newTestEnv(t, func(c *Config) {
		c.Auth = extraUsers{c.Auth, map[string]string{"fred": "fred-pass", "submitd": "submit-pass"}}
		c.URLAuthSubmitters = []string{"submitd"}
		c.Now = func() time.Time { return *now.Load() }
	})
	for _, u := range []string{"fred", "submitd"} {
		if err := env.store.CreateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	bodies := make([]string, 20)
	for i := range 19 {
		bodies[i] = fmt.Sprintf("From: a@example.org\r\nSubject: filler %d\r\n\r\nfiller\r\n", i)
	}
	bodies[19] = urlauthMsg
	if uids := env.appendRaw(time.Time{}, store.Flags{}, bodies...); uids[19] != 20 {
		t.Fatalf("UIDs %v", uids)
	}
	if _, err := env.account().CreateMailbox(context.Background(), "Drafts", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return urlauthEnv{env, now}
}

// setClock moves the server's clock.
func (e urlauthEnv) setClock(t time.Time) { e.now.Store(&t) }

// as logs a new connection in as user.
func (e urlauthEnv) as(user string) *client {
	c := e.dial()
	pass := map[string]string{testUser: testPass, "fred": "fred-pass", "submitd": "submit-pass"}[user]
	c.send("L1 LOGIN " + user + " " + pass)
	c.until("L1 OK")
	return c
}

var genURLAuthRE = regexp.MustCompile(`^\* GENURLAUTH "([^"]+)"\r\n`)

// gen signs one rump as c's user and returns the URL.
func (c *client) gen(rump string) string {
	c.t.Helper()
	got := c.exchange("G", `GENURLAUTH "`+rump+`" INTERNAL`)
	m := genURLAuthRE.FindStringSubmatch(got)
	if m == nil || !strings.HasSuffix(got, "G OK GENURLAUTH completed\r\n") {
		c.t.Fatalf("GENURLAUTH %s:\n%s", rump, got)
	}
	return m[1]
}

// fetchURL returns the content URLFETCH gives for url, or "NIL".
func (c *client) fetchURL(url string) string {
	c.t.Helper()
	got := c.exchange("F", `URLFETCH "`+url+`"`)
	head := `* URLFETCH "` + url + `" `
	tail := "F OK URLFETCH completed\r\n"
	if !strings.HasPrefix(got, head) || !strings.HasSuffix(got, tail) {
		c.t.Fatalf("URLFETCH %s:\n%s", url, got)
	}
	body := strings.TrimSuffix(strings.TrimPrefix(got, head), tail)
	if body == "NIL\r\n" {
		return "NIL"
	}
	m := regexp.MustCompile(`^\{(\d+)\}\r\n`).FindStringSubmatch(body)
	if m == nil {
		c.t.Fatalf("URLFETCH %s: %q", url, body)
	}
	return strings.TrimSuffix(body[len(m[0]):], "\r\n")
}

// TestURLAuthRFCExamples runs RFC 4467's examples (6.1 to 6.3), adapted:
// joe signs a URL for the submission server acting for fred, which
// fetches part 1.2; RESETKEY in its three forms.
func TestURLAuthRFCExamples(t *testing.T) {
	env := newURLAuthEnv(t)
	joe := env.as(testUser)
	caps := joe.exchange("C", "CAPABILITY")
	if !strings.Contains(caps, " URLAUTH ") && !strings.Contains(caps, " URLAUTH\r\n") || !strings.Contains(caps, " URLAUTH=BINARY") {
		t.Fatalf("capabilities: %s", caps)
	}

	got := joe.exchange("a775", `GENURLAUTH "`+urlauthRump+`" INTERNAL`)
	if !regexp.MustCompile(`^\* GENURLAUTH "` + regexp.QuoteMeta(urlauthRump) + `:internal:[0-9a-f]{64}"\r\na775 OK GENURLAUTH completed\r\n$`).MatchString(got) {
		t.Fatalf("GENURLAUTH:\n%s", got)
	}
	url := genURLAuthRE.FindStringSubmatch(got)[1]
	check(t, joe.exchange("a776", `GENURLAUTH "`+urlauthRump+`" XSAMPLE`), "a776 NO Unknown URLAUTH mechanism XSAMPLE")

	sub := env.as("submitd")
	check(t, sub.exchange("a777", `URLFETCH "`+url+`"`),
		`* URLFETCH "`+url+`" {28}`, urlauthData, "a777 OK URLFETCH completed")

	// SELECT names the mechanism (URLMECH), RESETKEY of a mailbox too.
	sel := joe.exchange("s", "EXAMINE INBOX")
	if !strings.Contains(sel, "* OK [URLMECH INTERNAL] ") {
		t.Errorf("EXAMINE:\n%s", sel)
	}
	check(t, joe.exchange("a31", "RESETKEY"), "a31 OK All keys removed")
	if got := sub.fetchURL(url); got != "NIL" {
		t.Errorf("URLFETCH after RESETKEY: %q", got)
	}
	url2 := joe.gen(urlauthRump)
	if url2 == url {
		t.Fatal("a new key signs as the old one did")
	}
	if got := sub.fetchURL(url2); got != urlauthData {
		t.Errorf("URLFETCH of the new URL: %q", got)
	}
	check(t, joe.exchange("a32", "RESETKEY INBOX"), "a32 OK [URLMECH INTERNAL] Key reset")
	if got := sub.fetchURL(url2); got != "NIL" {
		t.Errorf("URLFETCH after RESETKEY INBOX: %q", got)
	}
	check(t, joe.exchange("a33", "RESETKEY INBOX XSAMPLE"), "a33 NO Unknown URLAUTH mechanism XSAMPLE")
	check(t, joe.exchange("a34", "RESETKEY INBOX INTERNAL"), "a34 OK [URLMECH INTERNAL] Key reset")
	check(t, joe.exchange("a35", "RESETKEY Nowhere"), "a35 NO [NONEXISTENT] No such mailbox")
}

// TestURLAuthAccess: each access identifier admits exactly the sessions
// RFC 4467 3 says, and a URL changed in any way after signing admits
// nobody.
func TestURLAuthAccess(t *testing.T) {
	env := newURLAuthEnv(t)
	joe, fred, sub := env.as(testUser), env.as("fred"), env.as("submitd")
	want := urlauthData
	cases := []struct {
		access string
		admits map[*client]bool
	}{
		{"user+fred", map[*client]bool{fred: true, joe: false, sub: false}},
		{"user+joe", map[*client]bool{joe: true, fred: false, sub: false}},
		{"submit+fred", map[*client]bool{sub: true, fred: false, joe: false}},
		{"authuser", map[*client]bool{joe: true, fred: true, sub: true}},
		{"anonymous", map[*client]bool{joe: true, fred: true, sub: true}},
	}
	names := map[*client]string{joe: "joe", fred: "fred", sub: "submitd"}
	for _, tc := range cases {
		url := joe.gen(urlauthPart + ";urlauth=" + tc.access)
		for c, ok := range tc.admits {
			got := c.fetchURL(url)
			if ok && got != want || !ok && got != "NIL" {
				t.Errorf("%s fetching a URL for %s: %q", names[c], tc.access, got)
			}
		}
	}

	// Tampering: the token of one URL on another rump, another access,
	// a bad token, a rump without verifier, an unknown mechanism.
	url := joe.gen(urlauthPart + ";urlauth=user+fred")
	tok := url[strings.LastIndexByte(url, ':')+1:]
	for _, bad := range []string{
		strings.Replace(url, "section=1.2", "section=1.1", 1),
		strings.Replace(url, "uid=20", "uid=19", 1),
		strings.Replace(url, "user+fred", "authuser", 1),
		strings.Replace(url, tok, strings.Repeat("0", 64), 1),
		urlauthPart + ";urlauth=user+fred",
		urlauthPart + ";urlauth=user+fred:xsample:" + tok,
		"imap://joe@example.com/INBOX/;uid=20/;section=1.2",
		"imap://nobody@example.com/INBOX/;uid=20;urlauth=user+fred:internal:" + tok,
		"not a URL at all",
	} {
		if got := fred.fetchURL(bad); got != "NIL" {
			t.Errorf("URLFETCH %s: %q", bad, got)
		}
	}
	// Nothing read through a URL sets \Seen.
	flags := joe.exchange("x", "UID FETCH 20 FLAGS")
	if strings.Contains(flags, `\Seen`) {
		t.Errorf("URLFETCH set \\Seen:\n%s", flags)
	}
	// One response per URL, in order, NIL among them.
	got := fred.exchange("m", `URLFETCH "`+url+`" "`+urlauthPart+`;urlauth=user+fred" "`+url+`"`)
	want3 := `* URLFETCH "` + url + `" {28}` + "\r\n" + urlauthData + "\r\n" +
		`* URLFETCH "` + urlauthPart + `;urlauth=user+fred" NIL` + "\r\n" +
		`* URLFETCH "` + url + `" {28}` + "\r\n" + urlauthData + "\r\n" +
		"m OK URLFETCH completed\r\n"
	if got != want3 {
		t.Errorf("URLFETCH of three URLs:\n%s", got)
	}
}

// TestURLAuthExpiry: ;EXPIRE= is checked against the server's clock, not
// the wall clock: a URL works until the clock reaches its expiry.
func TestURLAuthExpiry(t *testing.T) {
	env := newURLAuthEnv(t)
	joe, fred := env.as(testUser), env.as("fred")
	expire := urlauthClock.Add(time.Hour)
	url := joe.gen(urlauthPart + ";expire=" + expire.Format(time.RFC3339) + ";urlauth=user+fred")
	if got := fred.fetchURL(url); got != urlauthData {
		t.Fatalf("before expiry: %q", got)
	}
	env.setClock(expire.Add(-time.Second))
	if got := fred.fetchURL(url); got != urlauthData {
		t.Fatalf("a second before expiry: %q", got)
	}
	env.setClock(expire)
	if got := fred.fetchURL(url); got != "NIL" {
		t.Fatalf("at expiry: %q", got)
	}
	// Moving the expiry forward breaks the token.
	later := strings.Replace(url, expire.Format(time.RFC3339), expire.Add(24*time.Hour).Format(time.RFC3339), 1)
	if got := fred.fetchURL(later); got != "NIL" {
		t.Fatalf("with a changed expiry: %q", got)
	}
	// An expiry in another zone is the same instant.
	env.setClock(urlauthClock)
	zoned := expire.In(time.FixedZone("", -3*3600-30*60)).Format(time.RFC3339)
	url = joe.gen(urlauthPart + ";expire=" + zoned + ";urlauth=user+fred")
	if got := fred.fetchURL(url); got != urlauthData {
		t.Fatalf("zoned expiry, before: %q", got)
	}
	env.setClock(expire.Add(time.Second))
	if got := fred.fetchURL(url); got != "NIL" {
		t.Fatalf("zoned expiry, after: %q", got)
	}
}

// TestURLAuthRevocation: RESETKEY of one mailbox revokes its URLs alone;
// a mailbox deleted, or deleted and created again, or renamed, and a
// message expunged, leave URLs that fetch NIL; a wrong UIDVALIDITY too.
func TestURLAuthRevocation(t *testing.T) {
	env := newURLAuthEnv(t)
	joe, fred := env.as(testUser), env.as("fred")
	a := env.account()
	drafts, _ := a.Mailbox(context.Background(), "Drafts")
	if _, err := a.Append(context.Background(), drafts.ID, []store.NewMessage{{Body: strings.NewReader("Subject: d\r\n\r\ndraft\r\n")}}); err != nil {
		t.Fatal(err)
	}
	inboxURL := joe.gen(urlauthPart + ";urlauth=user+fred")
	draftsURL := joe.gen("imap://joe@example.com/Drafts/;uid=1;urlauth=user+fred")
	check(t, joe.exchange("r", "RESETKEY Drafts"), "r OK [URLMECH INTERNAL] Key reset")
	if got := fred.fetchURL(draftsURL); got != "NIL" {
		t.Errorf("Drafts URL after its key was reset: %q", got)
	}
	if got := fred.fetchURL(inboxURL); got != urlauthData {
		t.Errorf("INBOX URL after Drafts' key was reset: %q", got)
	}

	// UIDVALIDITY: the right one works, another does not.
	inbox, _ := a.Mailbox(context.Background(), "INBOX")
	withV := fmt.Sprintf("imap://joe@example.com/INBOX;UIDVALIDITY=%d/;uid=20/;section=1.2;urlauth=user+fred", inbox.UIDValidity)
	if got := fred.fetchURL(joe.gen(withV)); got != urlauthData {
		t.Errorf("URL with UIDVALIDITY: %q", got)
	}
	wrongV := fmt.Sprintf("imap://joe@example.com/INBOX;UIDVALIDITY=%d/;uid=20;urlauth=user+fred", inbox.UIDValidity+1)
	check(t, joe.exchange("v", `GENURLAUTH "`+wrongV+`" INTERNAL`), `v NO [BADURL `+wrongV+`] UIDVALIDITY has changed`)

	// An expunged message.
	url19 := joe.gen("imap://joe@example.com/INBOX/;uid=19;urlauth=user+fred")
	if got := fred.fetchURL(url19); !strings.Contains(got, "filler 18") {
		t.Fatalf("UID 19 before expunge: %q", got)
	}
	if _, err := a.Expunge(context.Background(), inbox.ID, store.UIDSetOf(19)); err != nil {
		t.Fatal(err)
	}
	if got := fred.fetchURL(url19); got != "NIL" {
		t.Errorf("expunged message: %q", got)
	}

	// Renamed, then deleted and created again under the old name.
	draftsURL = joe.gen("imap://joe@example.com/Drafts/;uid=1;urlauth=user+fred")
	check(t, joe.exchange("rn", "RENAME Drafts Old"), "rn OK RENAME completed")
	if got := fred.fetchURL(draftsURL); got != "NIL" {
		t.Errorf("URL to a renamed mailbox: %q", got)
	}
	oldURL := joe.gen("imap://joe@example.com/Old/;uid=1;urlauth=user+fred")
	if got := fred.fetchURL(oldURL); got != "Subject: d\r\n\r\ndraft\r\n" {
		t.Errorf("URL under the new name: %q", got)
	}
	check(t, joe.exchange("d", "DELETE Old"), "d OK DELETE completed")
	check(t, joe.exchange("c", "CREATE Old"), "c OK CREATE completed")
	old, _ := a.Mailbox(context.Background(), "Old")
	if _, err := a.Append(context.Background(), old.ID, []store.NewMessage{{Body: strings.NewReader("Subject: d\r\n\r\nanother\r\n")}}); err != nil {
		t.Fatal(err)
	}
	if got := fred.fetchURL(oldURL); got != "NIL" {
		t.Errorf("URL to a mailbox deleted and created again: %q", got)
	}
}

// TestGenURLAuthErrors: GENURLAUTH refuses, all or nothing, what it may
// not sign.
func TestGenURLAuthErrors(t *testing.T) {
	env := newURLAuthEnv(t)
	joe := env.as(testUser)
	good := urlauthPart + ";urlauth=anonymous"
	for _, tc := range []struct{ rump, why string }{
		{"imap://fred@example.com/INBOX/;uid=1;urlauth=anonymous", "The URL names another user"},
		{"imap://joe@example.com/Nowhere/;uid=1;urlauth=anonymous", "No such mailbox"},
		{"/INBOX/;uid=20;urlauth=anonymous", "Bad URL: not an absolute IMAP URL"},
		{urlauthPart, "Bad URL: no URLAUTH in the URL"},
		{urlauthPart + ";urlauth=everyone", "Bad URL: unknown access identifier"},
		{good + ":internal:" + strings.Repeat("a", 64), "A URL rump has no verifier"},
		{"imap://joe@example.com/INBOX/;urlauth=anonymous", "Bad URL: no UID in the URL"},
	} {
		got := joe.exchange("g", `GENURLAUTH "`+good+`" INTERNAL "`+tc.rump+`" INTERNAL`)
		want := "g NO [BADURL " + tc.rump + "] " + tc.why + "\r\n"
		if got != want {
			t.Errorf("GENURLAUTH %s:\n%s\nwant %s", tc.rump, got, want)
		}
	}
	check(t, joe.exchange("g2", `GENURLAUTH "`+good+`"`), "g2 BAD expected ' ', got '\\r'")
	// Two at once: one response carrying both.
	got := joe.exchange("g3", `GENURLAUTH "`+good+`" INTERNAL "`+good+`" internal`)
	if !regexp.MustCompile(`^\* GENURLAUTH "[^"]+:internal:[0-9a-f]{64}" "[^"]+:internal:[0-9a-f]{64}"\r\ng3 OK`).MatchString(got) {
		t.Errorf("two URLs:\n%s", got)
	}
	// Before login, neither command exists.
	c := env.dial()
	check(t, c.exchange("n", `GENURLAUTH "`+good+`" INTERNAL`), "n BAD GENURLAUTH is not valid in the not authenticated state")
}

// TestURLFetchBinary runs RFC 5524's extended URLFETCH (section 4's
// examples, adapted): BODYPARTSTRUCTURE, BINARY (decoded, literal8 when it
// holds NUL, NIL when it cannot be decoded or the URL names no part), BODY
// (as stored), with ;PARTIAL= and in the plain form alongside.
func TestURLFetchBinary(t *testing.T) {
	env := newURLAuthEnv(t)
	joe, sub := env.as(testUser), env.as("submitd")
	url := joe.gen(urlauthRump)
	check(t, sub.exchange("a1", `URLFETCH ("`+url+`" BODYPARTSTRUCTURE BINARY)`),
		`* URLFETCH "`+url+`" (BODYPARTSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 28 1 NIL NIL NIL NIL)) (BINARY {28}`,
		urlauthData+")",
		"a1 OK URLFETCH completed")
	check(t, sub.exchange("a2", `URLFETCH ("`+url+`" BODY) "`+url+`"`),
		`* URLFETCH "`+url+`" (BODY {28}`, urlauthData+")",
		`* URLFETCH "`+url+`" {28}`, urlauthData,
		"a2 OK URLFETCH completed")

	bin := joe.gen("imap://joe@example.com/INBOX/;uid=20/;section=2;urlauth=submit+fred")
	check(t, sub.exchange("a3", `URLFETCH ("`+bin+`" BINARY)`),
		`* URLFETCH "`+bin+`" (BINARY ~{7}`, "\x00\x01\x02\x03\x00hi)",
		"a3 OK URLFETCH completed")
	check(t, sub.exchange("a4", `URLFETCH ("`+bin+`" BODY)`),
		`* URLFETCH "`+bin+`" (BODY {12}`, "AAECAwBoaQ==)",
		"a4 OK URLFETCH completed")
	part := joe.gen("imap://joe@example.com/INBOX/;uid=20/;section=2/;partial=4.2;urlauth=submit+fred")
	check(t, sub.exchange("a5", `URLFETCH ("`+part+`" BINARY) ("`+part+`" BODY)`),
		`* URLFETCH "`+part+`" (BINARY ~{2}`, "\x00h)",
		`* URLFETCH "`+part+`" (BODY {2}`, "Aw)",
		"a5 OK URLFETCH completed")

	odd := joe.gen("imap://joe@example.com/INBOX/;uid=20/;section=3;urlauth=submit+fred")
	check(t, sub.exchange("a6", `URLFETCH ("`+odd+`" BINARY BODYPARTSTRUCTURE)`),
		`* URLFETCH "`+odd+`" (BODYPARTSTRUCTURE ("APPLICATION" "X-ODD" NIL NIL NIL "X-ROT13" 5 NIL NIL NIL NIL)) (BINARY NIL)`,
		"a6 OK URLFETCH completed")
	head := joe.gen("imap://joe@example.com/INBOX/;uid=20/;section=HEADER;urlauth=submit+fred")
	check(t, sub.exchange("a7", `URLFETCH ("`+head+`" BINARY BODYPARTSTRUCTURE)`),
		`* URLFETCH "`+head+`" (BODYPARTSTRUCTURE NIL) (BINARY NIL)`,
		"a7 OK URLFETCH completed")
	check(t, sub.exchange("a8", `URLFETCH ("`+url+`")`), `* URLFETCH "`+url+`"`, "a8 OK URLFETCH completed")
	nope := joe.gen("imap://joe@example.com/INBOX/;uid=20/;section=9;urlauth=submit+fred")
	check(t, sub.exchange("a9", `URLFETCH ("`+nope+`" BINARY)`), `* URLFETCH "`+nope+`" NIL`, "a9 OK URLFETCH completed")

	check(t, sub.exchange("b1", `URLFETCH ("`+url+`" BODY BINARY)`), "b1 BAD BODY and BINARY are exclusive")
	check(t, sub.exchange("b2", `URLFETCH ("`+url+`" ENVELOPE)`), "b2 BAD Unknown URLFETCH parameter ENVELOPE")
	check(t, sub.exchange("b3", `URLFETCH ()`), "b3 BAD URLFETCH needs a URL")
}

// TestCatenateURLAuth: CATENATE takes a URLAUTH-authorized URL to
// another user's message when it admits the session (RFC 4469 5), and
// refuses one that does not, appending nothing.
func TestCatenateURLAuth(t *testing.T) {
	env := newURLAuthEnv(t)
	joe, fred := env.as(testUser), env.as("fred")
	url := joe.gen(urlauthPart + ";urlauth=user+fred")
	got := fred.exchange("c1", `APPEND INBOX CATENATE (TEXT {20}`+"\r\nSubject: forward\r\n\r\n"+` URL "`+url+`")`)
	if !regexp.MustCompile(`^\+ Ready for literal data\r\nc1 OK \[APPENDUID \d+ 1\] APPEND completed\r\n$`).MatchString(got) {
		t.Fatalf("CATENATE with an authorized URL:\n%s", got)
	}
	fa, err := env.store.Open(context.Background(), "fred")
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	inbox, _ := fa.Mailbox(context.Background(), "INBOX")
	var body string
	fa.Messages(context.Background(), inbox.ID, store.UIDSetOf(1), func(m *store.MessageData) error {
		b, err := fa.OpenBlob(context.Background(), m.BlobID)
		if err != nil {
			return err
		}
		defer b.Close()
		buf := make([]byte, m.Size)
		b.ReadAt(buf, 0)
		body = string(buf)
		return nil
	})
	if body != "Subject: forward\r\n\r\n"+urlauthData {
		t.Fatalf("catenated message %q", body)
	}
	other := joe.gen(urlauthPart + ";urlauth=user+joe")
	check(t, fred.exchange("c2", `APPEND INBOX CATENATE (URL "`+other+`")`),
		"c2 NO [BADURL "+other+"] The URL is not for this user")
	// Without URLAUTH, another user's message stays out of reach.
	check(t, fred.exchange("c3", `APPEND INBOX CATENATE (URL "`+urlauthPart+`")`),
		"c3 NO [BADURL "+urlauthPart+"] The URL names another user")
	if st, _ := fa.Status(context.Background(), inbox.ID); st.Messages != 1 {
		t.Fatalf("%d messages in fred's INBOX", st.Messages)
	}
}

// TestResetKeyTellsOtherSessions: after RESETKEY, the user's other
// sessions with the mailbox selected hear "OK [URLMECH INTERNAL]" at their
// next sync point (RFC 4467 6.1); one with another mailbox selected does
// not, until RESETKEY without a mailbox resets every key.
func TestResetKeyTellsOtherSessions(t *testing.T) {
	env := newURLAuthEnv(t)
	a, b, c := env.as(testUser), env.as(testUser), env.as(testUser)
	a.exchange("s", "SELECT INBOX")
	b.exchange("s", "EXAMINE Drafts")
	check(t, c.exchange("r1", "RESETKEY INBOX"), "r1 OK [URLMECH INTERNAL] Key reset")
	check(t, a.exchange("n1", "NOOP"), "* OK [URLMECH INTERNAL] Access key reset", "n1 OK NOOP completed")
	check(t, a.exchange("n2", "NOOP"), "n2 OK NOOP completed")
	check(t, b.exchange("n3", "NOOP"), "n3 OK NOOP completed")
	check(t, c.exchange("r2", "RESETKEY"), "r2 OK All keys removed")
	check(t, b.exchange("n4", "NOOP"), "* OK [URLMECH INTERNAL] Access key reset", "n4 OK NOOP completed")
	check(t, a.exchange("n5", "NOOP"), "* OK [URLMECH INTERNAL] Access key reset", "n5 OK NOOP completed")
	// Another user's reset says nothing to joe.
	fred := env.as("fred")
	fred.exchange("s", "SELECT INBOX")
	check(t, fred.exchange("r3", "RESETKEY INBOX"), "r3 OK [URLMECH INTERNAL] Key reset")
	check(t, a.exchange("n6", "NOOP"), "n6 OK NOOP completed")
}
