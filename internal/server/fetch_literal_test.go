package server

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

const literalMessage = "From: Alice Example <alice@example.org>\r\nSubject: \"quoted\" \\ back\r\n\r\nHi\r\n"

// TestFetchContentIsLiteral: message content goes out as a literal
// whatever its length or bytes — partial, empty, quotes and backslashes,
// RFC822 forms — while envelope fields stay quoted strings.
func TestFetchContentIsLiteral(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendRaw(time.Time{}, store.Flags{}, literalMessage)
	c := env.selectInbox()
	hdr := literalMessage[:strings.Index(literalMessage, "\r\n\r\n")+4]
	for _, tc := range []struct{ cmd, want string }{
		{"BODY.PEEK[]<0.20>", "BODY[]<0> {20}\r\nFrom: Alice Example "},
		{"BODY.PEEK[]<2000.5>", "BODY[]<2000> {0}\r\n"},
		{"BODY.PEEK[TEXT]", "BODY[TEXT] {4}\r\nHi\r\n"},
		{"BODY.PEEK[1]", "BODY[1] {4}\r\nHi\r\n"},
		{"BODY.PEEK[2]", "BODY[2] {0}\r\n"},
		{"BODY.PEEK[HEADER.FIELDS (Subject)]", "BODY[HEADER.FIELDS (Subject)] {28}\r\nSubject: \"quoted\" \\ back\r\n\r\n"},
		{"BINARY.PEEK[1]<0.2>", "BINARY[1]<0> {2}\r\nHi"},
		{"RFC822.TEXT", "RFC822.TEXT {4}\r\nHi\r\n FLAGS (\\Seen)"},
		{"RFC822.HEADER", "RFC822.HEADER {" + itoa(uint32(len(hdr))) + "}\r\n" + hdr},
		{"RFC822", "RFC822 {" + itoa(uint32(len(literalMessage))) + "}\r\n" + literalMessage},
		{"ENVELOPE", `ENVELOPE (NIL "\"quoted\" \\ back" (("Alice Example" NIL "alice" "example.org")) (("Alice Example" NIL "alice" "example.org")) (("Alice Example" NIL "alice" "example.org")) NIL NIL NIL NIL NIL)`},
	} {
		got := c.exchange("a", "FETCH 1 ("+tc.cmd+")")
		want := "* 1 FETCH (" + tc.want + ")\r\na OK FETCH completed\r\n"
		if got != want {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.cmd, got, want)
		}
	}
}

// TestCurlPartial fetches part of a message with curl's IMAP client,
// which accepts section data only as a literal.
func TestCurlPartial(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed; skipping the curl ;PARTIAL check")
	}
	env := newTestEnv(t, nil)
	env.appendRaw(time.Time{}, store.Flags{}, literalMessage)
	_, port, _ := net.SplitHostPort(env.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := "imap://" + testUser + ":" + testPass + "@127.0.0.1:" + port + "/INBOX/;UID=1/;PARTIAL=0.20"
	out, err := exec.CommandContext(ctx, curl, "--silent", "--show-error", url).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %s: %v\n%s", url, err, out)
	}
	if string(out) != "From: Alice Example " {
		t.Fatalf("curl returned %q, want %q", out, "From: Alice Example ")
	}
	out, err = exec.CommandContext(ctx, curl, "--silent", "--show-error",
		"imap://"+testUser+":"+testPass+"@127.0.0.1:"+port+"/INBOX/;UID=1/;SECTION=TEXT").CombinedOutput()
	if err != nil || string(out) != "Hi\r\n" {
		t.Fatalf("curl ;SECTION=TEXT: %v, output %q", err, out)
	}
}
