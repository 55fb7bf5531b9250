package server

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// catenateMsg is a two-part message whose pieces the tests catenate.
const catenateMsg = "From: a@example.org\r\n" +
	"Subject: parts\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain\r\n" +
	"\r\n" +
	"first part\r\n" +
	"--b1\r\n" +
	"Content-Type: text/x-second\r\n" +
	"\r\n" +
	"second part\r\n" +
	"--b1--\r\n"

// catenateEnv: INBOX holds catenateMsg (UID 1), Drafts is empty, and the
// client is logged in (IMAP4rev2).
func catenateEnv(t *testing.T, tweak func(*Config)) (*testEnv, *client, uint32) {
	t.Helper()
	env := newTestEnv(t, tweak)
	a := env.account()
	ctx := context.Background()
	inbox, _ := a.Mailbox(ctx, "INBOX")
	if _, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader(catenateMsg)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateMailbox(ctx, "Drafts", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := env.dial()
	c.loginRev2()
	return env, c, inbox.UIDValidity
}

// fetchBody returns BODY[] of a UID in a mailbox, through the client.
func (c *client) fetchBody(mailbox string, uid int) string {
	c.t.Helper()
	c.send("fb EXAMINE " + mailbox)
	c.until("fb OK")
	c.send(fmt.Sprintf("fb2 UID FETCH %d BODY.PEEK[]", uid))
	head := c.readLine()
	m := regexp.MustCompile(`\{(\d+)\}$`).FindStringSubmatch(head)
	if m == nil {
		c.t.Fatalf("FETCH: %q", head)
	}
	var n int
	fmt.Sscan(m[1], &n)
	buf := make([]byte, n)
	if _, err := ioReadFull(c, buf); err != nil {
		c.t.Fatal(err)
	}
	c.until("fb2 OK")
	c.send("fb3 UNSELECT")
	c.until("fb3 OK")
	return string(buf)
}

func ioReadFull(c *client, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := c.r.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// RFC 4469 3 and its examples: a message built from literals and URLs to
// a message's header and parts, with synchronizing literals inside the
// list; absolute, relative and partial URLs.
func TestCatenate(t *testing.T) {
	_, c, uidv := catenateEnv(t, nil)
	c.send("a CAPABILITY")
	if caps := c.expect(`^\* CAPABILITY `, `^a OK`)[0]; !contains(caps, "CATENATE") {
		t.Fatalf("CATENATE not offered: %q", caps)
	}
	sep := "\r\n--b1\r\nContent-Type: text/plain\r\n\r\nreplaced\r\n--b1--\r\n"
	base := fmt.Sprintf("/INBOX;UIDVALIDITY=%d/;UID=1", uidv)
	c.send(fmt.Sprintf(`A003 APPEND Drafts (\Seen \Draft) CATENATE (URL "%s/;SECTION=HEADER" TEXT {%d}`, base, len("--b1\r\n")))
	c.expect(`^\+ `)
	c.send("--b1\r\n" + fmt.Sprintf(` URL "%s/;section=1.MIME" URL "%s/;SECTION=1" TEXT {%d}`, base, base, len(sep)))
	c.expect(`^\+ `)
	c.send(sep + ")")
	c.expect(`^A003 OK \[APPENDUID \d+ 1\] APPEND completed$`)
	want := "From: a@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\n" + "Content-Type: text/plain\r\n\r\n" + "first part" + sep
	if got := c.fetchBody("Drafts", 1); got != want {
		t.Fatalf("catenated message:\n%q\nwant\n%q", got, want)
	}

	// Absolute URL of the user logged in; a relative one against the
	// selected mailbox; partial ranges; MULTIAPPEND mixing both forms.
	c.send("s SELECT INBOX")
	c.until("s OK")
	c.send(fmt.Sprintf(`b APPEND Drafts CATENATE (URL "imap://%s@localhost/INBOX/;UID=1/;SECTION=HEADER.FIELDS%%20(SUBJECT)" URL ";UID=1/;SECTION=2" URL "/INBOX/;UID=1/;PARTIAL=6.7") {6+}`+"\r\nx: y\r\n", testUser))
	c.expect(`^b OK \[APPENDUID \d+ 2:3\] APPEND completed$`)
	if got := c.fetchBody("Drafts", 2); got != "Subject: parts\r\n\r\nsecond parta@examp" {
		t.Fatalf("catenated message 2: %q", got)
	}
	if got := c.fetchBody("Drafts", 3); got != "x: y\r\n" {
		t.Fatalf("plain message after it: %q", got)
	}
}

// A URL reaches only the session's own account (RFC 4469 3): another
// user's mail is never copied, whether named by an absolute URL or by a
// relative one that happens to match a UID of theirs.
func TestCatenateOtherUser(t *testing.T) {
	env, c, _ := catenateEnv(t, nil)
	ctx := context.Background()
	if err := env.store.CreateUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	bob, err := env.store.Open(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	bi, _ := bob.Mailbox(ctx, "INBOX")
	var msgs []store.NewMessage
	for range 3 {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader("Subject: bob's secret\r\n\r\nsecret\r\n")})
	}
	if _, err := bob.Append(ctx, bi.ID, msgs); err != nil {
		t.Fatal(err)
	}
	for i, u := range []string{
		"imap://bob@localhost/INBOX/;UID=1",
		"imap://bob;AUTH=*@localhost/INBOX/;UID=3",
		"imap://localhost/INBOX/;UID=1",
		"/INBOX/;UID=3",
		"/~bob/INBOX/;UID=1",
		"/#user/bob/INBOX/;UID=1",
	} {
		tag := fmt.Sprintf("o%d", i)
		c.send(fmt.Sprintf(`%s APPEND Drafts CATENATE (URL "%s")`, tag, u))
		c.expect(`^` + tag + ` NO \[BADURL ` + regexp.QuoteMeta(u) + `\] `)
	}
	c.send("st STATUS Drafts (MESSAGES)")
	c.expect(`^\* STATUS Drafts \(MESSAGES 0\)$`, `^st OK`)
}

// Error paths: each is NO [BADURL url] (or TOOBIG, BAD for syntax), and
// nothing is appended.
func TestCatenateErrors(t *testing.T) {
	_, c, uidv := catenateEnv(t, func(c *Config) { c.Limits.MaxAppendLiteral = 300 })
	for i, u := range []string{
		fmt.Sprintf("/INBOX;UIDVALIDITY=%d/;UID=1", uidv+1), // wrong UIDVALIDITY
		"/Nowhere/;UID=1",                                // no such mailbox
		"/INBOX/;UID=7",                                  // no such message
		"/INBOX/;UID=1/;SECTION=9",                       // no such part
		"/INBOX/;UID=1/;SECTION=1.BOGUS",                 // bad section
		"/INBOX/;UID=1/;URLAUTH=anonymous:internal:0123", // URLAUTH not resolved here
		";UID=1",              // relative, nothing selected
		"http://example.org/", // not an IMAP URL
		"/INBOX",              // no UID
	} {
		tag := fmt.Sprintf("e%d", i)
		c.send(fmt.Sprintf(`%s APPEND Drafts CATENATE (URL "%s")`, tag, u))
		c.expect(`^` + tag + ` NO \[BADURL ` + regexp.QuoteMeta(u) + `\] `)
	}
	// The whole message is held to APPENDLIMIT (300 bytes here).
	c.send(`t1 APPEND Drafts CATENATE (URL "/INBOX/;UID=1" URL "/INBOX/;UID=1")`)
	c.expect(`^t1 NO \[TOOBIG\] `)
	c.send(`t2 APPEND Drafts CATENATE (TEXT {200+}` + "\r\n" + strings.Repeat("x", 200) + ` TEXT {200}`)
	c.expect(`^t2 NO \[TOOBIG\] `)
	c.send(`b1 APPEND Drafts CATENATE (BODY "x")`)
	c.expect(`^b1 BAD `)
	c.send(`b2 APPEND Drafts CATENATE ()`)
	c.expect(`^b2 (BAD|NO) `)
	c.send(`b3 APPEND Drafts FOO (TEXT {1+}` + "\r\nx)")
	c.expect(`^b3 BAD `)
	c.send("st STATUS Drafts (MESSAGES)")
	c.expect(`^\* STATUS Drafts \(MESSAGES 0\)$`, `^st OK`)
}

// RFC 8508 4.2: REPLACE with CATENATE, the new message built from the one
// it replaces (the example of section 4.2).
func TestReplaceCatenate(t *testing.T) {
	_, c, _ := catenateEnv(t, nil)
	c.send("s SELECT INBOX")
	c.until("s OK")
	head := "To: Mitzy <miss.mitzy@example.org>\r\n"
	c.send(fmt.Sprintf(`r UID REPLACE 1 INBOX CATENATE (TEXT {%d+}`, len(head)) + "\r\n" + head + ` URL "/INBOX/;UID=1")`)
	c.expect(`^\* OK \[APPENDUID \d+ 2\] Replacement Message ready$`, `^\* 1 EXPUNGE$`, `^\* 1 EXISTS$`, `^r OK`)
	c.send("u UNSELECT")
	c.until("u OK")
	if got := c.fetchBody("INBOX", 2); got != head+catenateMsg {
		t.Fatalf("replacement %q", got)
	}
}
