package server

import (
	"context"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// previewEnv holds: 1 plain text, 2 HTML only, 3 an image only, 4
// multipart/alternative in ISO-8859-1 quoted-printable.
func previewEnv(t *testing.T) *client {
	t.Helper()
	env := newTestEnv(t, nil)
	a := env.account()
	ctx := context.Background()
	mb, _ := a.Mailbox(ctx, "INBOX")
	var msgs []store.NewMessage
	for _, raw := range []string{
		"Subject: a\r\n\r\nPreview text!\r\n",
		"Subject: b\r\nContent-Type: text/html\r\n\r\n<html><head><style>x{}</style></head><body><h1>Hi</h1>\r\n<p>there &lt;you&gt;</p></body></html>\r\n",
		"Subject: c\r\nContent-Type: image/gif\r\nContent-Transfer-Encoding: base64\r\n\r\nR0lGODlhAQABAAAAACw=\r\n",
		"Subject: d\r\nContent-Type: multipart/alternative; boundary=z\r\n\r\n--z\r\nContent-Type: text/plain; charset=iso-8859-1\r\n" +
			"Content-Transfer-Encoding: quoted-printable\r\n\r\nD=E9j=E0 vu\r\n--z\r\nContent-Type: text/html\r\n\r\n<p>no</p>\r\n--z--\r\n",
	} {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(raw)})
	}
	if _, err := a.Append(ctx, mb.ID, msgs); err != nil {
		t.Fatal(err)
	}
	claimedElsewhere(t, a, mb.ID)
	c := env.dial()
	c.login()
	c.send("s SELECT INBOX")
	c.until("s OK")
	return c
}

func TestFetchPreview(t *testing.T) {
	c := previewEnv(t)
	// RFC 8970 3.2's example.
	c.send("A1 FETCH 1 (PREVIEW)")
	c.expect(`^\* 1 FETCH \(PREVIEW "Preview text!"\)$`, `^A1 OK .*`)
	c.send("A2 FETCH 1:3 (UID PREVIEW (LAZY))")
	c.expect(`^\* 1 FETCH \(UID 1 PREVIEW "Preview text!"\)$`,
		`^\* 2 FETCH \(UID 2 PREVIEW "Hi there <you>"\)$`,
		`^\* 3 FETCH \(UID 3 PREVIEW ""\)$`, // no text: the empty string, RFC 8970 3.2
		`^A2 OK .*`)
	c.send("A3 UID FETCH 2 PREVIEW (LAZY)")
	c.expect(`^\* 2 FETCH \(UID 2 PREVIEW "Hi there <you>"\)$`, `^A3 OK .*`)
	// Non-ASCII: a literal for a client that has not accepted UTF-8.
	c.send("A4 FETCH 4 (PREVIEW FLAGS)")
	c.expect(`^\* 4 FETCH \(PREVIEW \{9\}$`)
	c.expect(`^Déjà vu FLAGS \(\)\)$`, `^A4 OK .*`)
	c.send("A5 FETCH 1 (PREVIEW (EAGER))")
	c.expect(`^A5 BAD .*`)
	c.send("A6 FETCH 1 (PREVIEW ())")
	c.expect(`^A6 BAD .*`) // RFC 8970 6: at least one preview-mod
	c.send("A7 ENABLE UTF8=ACCEPT")
	c.until("A7 OK")
	c.send("A8 FETCH 4 PREVIEW")
	c.expect(`^\* 4 FETCH \(PREVIEW "Déjà vu"\)$`, `^A8 OK .*`)
	c.send("A9 CAPABILITY")
	if l := c.expect(`^\* CAPABILITY .*`, `^A9 OK`)[0]; !strings.Contains(l, " PREVIEW") {
		t.Errorf("no PREVIEW in %s", l)
	}
}
