package server

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// groupMessage uses RFC 5322 group syntax in To and Cc, with a member that
// is not an address and a trailing comment.
const groupMessage = "From: Alice <alice@example.org>\r\n" +
	"To: undisclosed-recipients:;\r\n" +
	"Cc: The Team: bob@example.org, Carol <carol@example.org>, just-a-name; (end of group)\r\n" +
	"Bcc: =?UTF-8?Q?=C3=89quipe?=: dave@example.org;\r\n" +
	"Subject: groups\r\n\r\nHi\r\n"

// TestGroupSyntax: ENVELOPE writes group start and end markers exactly as
// RFC 9051 7.5.2 says, leaving out members that are not addresses, and
// SEARCH FROM/TO/CC/BCC match a group's name like a display name.
func TestGroupSyntax(t *testing.T) {
	env := newTestEnv(t, nil)
	env.appendRaw(time.Time{}, store.Flags{}, groupMessage, testMessage("plain"))
	c := env.selectInbox()
	check(t, c.exchange("a", "FETCH 1 ENVELOPE"),
		`* 1 FETCH (ENVELOPE (NIL "groups" (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org"))`+
			` ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))`+
			` ((NIL NIL "The Team" NIL)(NIL NIL "bob" "example.org")("Carol" NIL "carol" "example.org")(NIL NIL NIL NIL))`+
			` ((NIL NIL "=?UTF-8?Q?=C3=89quipe?=" NIL)(NIL NIL "dave" "example.org")(NIL NIL NIL NIL))`+
			` NIL NIL))`,
		`a OK FETCH completed`)
	for _, tc := range []struct{ key, want string }{
		{`TO undisclosed-recipients`, "1"},
		{`TO "undisclosed"`, "1"},
		{`CC "the team"`, "1"},
		{`CC carol`, "1"},
		{`BCC "équipe"`, "1"},
		{`BCC dave`, "1"},
		{`FROM "the team"`, ""},
		{`TO "the team"`, ""},
		{`OR TO undisclosed FROM a@example.org`, "1 2"},
	} {
		want := "* SEARCH"
		if tc.want != "" {
			want += " " + tc.want
		}
		check(t, c.exchange("s", "SEARCH CHARSET UTF-8 "+tc.key), want, "s OK SEARCH completed")
	}

	// go-imap's client reads the markers as groups.
	cl := dialImapClient(t, env)
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := cl.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	e := msgs[0].Envelope
	if len(e.To) != 2 || !e.To[0].IsGroupStart() || e.To[0].Mailbox != "undisclosed-recipients" || !e.To[1].IsGroupEnd() {
		t.Fatalf("To: %+v", e.To)
	}
	if len(e.Cc) != 4 || !e.Cc[0].IsGroupStart() || e.Cc[1].Addr() != "bob@example.org" ||
		e.Cc[2].Addr() != "carol@example.org" || !e.Cc[3].IsGroupEnd() {
		t.Fatalf("Cc: %+v", e.Cc)
	}
}
