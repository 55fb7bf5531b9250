package server

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// crlf turns a fixture written with LF into the CRLF form a message has
// on the wire.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// fetchSimple is the message of RFC 9051's APPEND example.
var fetchSimple = crlf(`Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)
From: Fred Foobar <foobar@Blurdybloop.example>
Subject: afternoon meeting
To: mooch@owatagu.siam.edu.example
Message-Id: <B27397-0100000@Blurdybloop.example>
MIME-Version: 1.0
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII

Hello Joe, do you think we can meet at 3:30 tomorrow?
`)

// The parts of fetchMixed, so that sizes can be counted by hand.
var (
	fetchMixedHeader = crlf(`From: "Alice Example" <alice@example.org>
To: bob@example.com, Team: carol@example.net, dave@example.net;
Subject: =?UTF-8?Q?Caf=C3=A9?= report
Date: Tue, 1 Apr 2025 10:00:00 +0000
Message-ID: <m2@example.org>
In-Reply-To: <m1@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

`)
	fetchPart1MIME = crlf(`Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

`)
	fetchPart1Body = "Caf=C3=A9 ol=C3=A9"
	fetchPart2MIME = crlf(`Content-Type: application/octet-stream; name="data.bin"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="data.bin"
Content-Language: en, fr
Content-Location: http://example.org/data.bin
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==
Content-ID: <part2@example.org>
Content-Description: some bytes

`)
	fetchPart2Body   = "AAEC/w=="
	fetchPart3MIME   = crlf("Content-Type: message/rfc822\n\n")
	fetchInnerHeader = crlf(`From: inner@example.org
Subject: inner
Content-Type: multipart/alternative; boundary=inner

`)
	fetchInnerBody = crlf(`--inner
Content-Type: text/plain

plain
--inner
Content-Type: text/html

<b>html</b>
--inner--`)
	fetchPart3Body = fetchInnerHeader + fetchInnerBody
	fetchMixedBody = crlf("This is the preamble.\n--outer\n") + fetchPart1MIME + fetchPart1Body +
		crlf("\n--outer\n") + fetchPart2MIME + fetchPart2Body +
		crlf("\n--outer\n") + fetchPart3MIME + fetchPart3Body + crlf("\n--outer--\n")
	fetchMixed = fetchMixedHeader + fetchMixedBody
)

// fetchUnknownCTE has a part whose transfer encoding cannot be undone.
var fetchUnknownCTE = crlf(`From: x@example.org
Subject: uu
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: application/octet-stream
Content-Transfer-Encoding: x-uuencode

begin 644 f
--b--
`)

// Hand-derived from the RFC 9051 grammar (body, envelope).
var (
	innerEnvelope  = `(NIL "inner" ((NIL NIL "inner" "example.org")) ((NIL NIL "inner" "example.org")) ((NIL NIL "inner" "example.org")) NIL NIL NIL NIL NIL)`
	mixedEnvelope  = `("Tue, 1 Apr 2025 10:00:00 +0000" "=?UTF-8?Q?Caf=C3=A9?= report" (("Alice Example" NIL "alice" "example.org")) (("Alice Example" NIL "alice" "example.org")) (("Alice Example" NIL "alice" "example.org")) ((NIL NIL "bob" "example.com")(NIL NIL "Team" NIL)(NIL NIL "carol" "example.net")(NIL NIL "dave" "example.net")(NIL NIL NIL NIL)) NIL NIL "<m1@example.org>" "<m2@example.org>")`
	simpleEnvelope = `("Mon, 7 Feb 1994 21:52:25 -0800 (PST)" "afternoon meeting" (("Fred Foobar" NIL "foobar" "Blurdybloop.example")) (("Fred Foobar" NIL "foobar" "Blurdybloop.example")) (("Fred Foobar" NIL "foobar" "Blurdybloop.example")) ((NIL NIL "mooch" "owatagu.siam.edu.example")) NIL NIL NIL "<B27397-0100000@Blurdybloop.example>")`
)

func lines(s string) int { return strings.Count(s, "\n") + 1 } // bodies here end without a line break

func mixedBodyStructure(ext bool) string {
	x := func(s string) string {
		if ext {
			return s
		}
		return ""
	}
	inner := `(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 5 1` + x(" NIL NIL NIL NIL") + `)("TEXT" "HTML" NIL NIL NIL "7BIT" 11 1` +
		x(" NIL NIL NIL NIL") + `) "ALTERNATIVE"` + x(` ("BOUNDARY" "inner") NIL NIL NIL`) + `)`
	return `(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 18 1` + x(" NIL NIL NIL NIL") + `)` +
		`("APPLICATION" "OCTET-STREAM" ("NAME" "data.bin") "<part2@example.org>" "some bytes" "BASE64" 8` +
		x(` "Q2hlY2sgSW50ZWdyaXR5IQ==" ("ATTACHMENT" ("FILENAME" "data.bin")) ("en" "fr") "http://example.org/data.bin"`) + `)` +
		`("MESSAGE" "RFC822" NIL NIL NIL "7BIT" ` + strconv.Itoa(len(fetchPart3Body)) + " " + innerEnvelope + " " + inner + " " +
		strconv.Itoa(lines(fetchPart3Body)) + x(" NIL NIL NIL NIL") + `)` +
		` "MIXED"` + x(` ("BOUNDARY" "outer") NIL NIL NIL`) + `)`
}

// appendRaw appends messages to INBOX through the store and returns their
// UIDs.
func (e *testEnv) appendRaw(date time.Time, flags store.Flags, bodies ...string) []store.UID {
	e.t.Helper()
	a := e.account()
	mb, err := a.Mailbox(context.Background(), "INBOX")
	if err != nil {
		e.t.Fatal(err)
	}
	var msgs []store.NewMessage
	for _, b := range bodies {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(b), Flags: flags, InternalDate: date})
	}
	res, err := a.Append(context.Background(), mb.ID, msgs)
	if err != nil {
		e.t.Fatal(err)
	}
	claimedElsewhere(e.t, a, mb.ID)
	return res.UIDs
}

// exchange sends one command and returns everything up to and including
// its tagged response, literals included as they came ("{n}\r\n" then
// the bytes), lines joined with CRLF.
func (c *client) exchange(tag, line string) string {
	c.t.Helper()
	c.send(tag + " " + line)
	var sb strings.Builder
	for {
		l := c.readLine()
		sb.WriteString(l)
		sb.WriteString("\r\n")
		if n, ok := literalSize(l); ok {
			// The bytes, then the rest of the response line, as sent.
			buf := make([]byte, n)
			if _, err := io.ReadFull(c.r, buf); err != nil {
				c.t.Fatalf("reading literal: %v", err)
			}
			sb.Write(buf)
			continue
		}
		if strings.HasPrefix(l, tag+" ") {
			return sb.String()
		}
	}
}

// literalSize recognizes a line ending in "{n}" or "~{n}".
func literalSize(l string) (int, bool) {
	if !strings.HasSuffix(l, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(l, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(l[i+1 : len(l)-1])
	return n, err == nil
}

// check compares an exchange with what it should be (lines given without
// CRLF, joined).
func check(t *testing.T, got string, want ...string) {
	t.Helper()
	w := strings.Join(want, "\r\n") + "\r\n"
	if got != w {
		t.Errorf("got:\n%s\nwant:\n%s", got, w)
	}
}

var fetchDate = time.Date(2025, 4, 1, 12, 30, 45, 0, time.FixedZone("", 2*3600))

// fetchEnv holds INBOX with fetchSimple (UID 1), fetchMixed (UID 2) and
// fetchUnknownCTE (UID 3), none seen.
func fetchEnv(t *testing.T) *testEnv {
	env := newTestEnv(t, nil)
	env.appendRaw(fetchDate, store.Flags{}, fetchSimple, fetchMixed, fetchUnknownCTE)
	return env
}

func TestFetchStaticItems(t *testing.T) {
	simpleSize := strconv.Itoa(len(fetchSimple) - strings.Index(fetchSimple, "\r\n\r\n") - 4)
	env := fetchEnv(t)
	c := env.selectInbox()
	check(t, c.exchange("a", "FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)"),
		`* 1 FETCH (FLAGS () INTERNALDATE " 1-Apr-2025 12:30:45 +0200" RFC822.SIZE `+strconv.Itoa(len(fetchSimple))+` ENVELOPE `+simpleEnvelope+`)`,
		`a OK FETCH completed`)
	// Macros expand in the order RFC 9051 6.4.5 lists.
	check(t, c.exchange("b", "FETCH 2 ALL"),
		`* 2 FETCH (FLAGS () INTERNALDATE " 1-Apr-2025 12:30:45 +0200" RFC822.SIZE `+strconv.Itoa(len(fetchMixed))+` ENVELOPE `+mixedEnvelope+`)`,
		`b OK FETCH completed`)
	check(t, c.exchange("c", "FETCH 2 FAST"),
		`* 2 FETCH (FLAGS () INTERNALDATE " 1-Apr-2025 12:30:45 +0200" RFC822.SIZE `+strconv.Itoa(len(fetchMixed))+`)`,
		`c OK FETCH completed`)
	check(t, c.exchange("d", "FETCH 2 FULL"),
		`* 2 FETCH (FLAGS () INTERNALDATE " 1-Apr-2025 12:30:45 +0200" RFC822.SIZE `+strconv.Itoa(len(fetchMixed))+` ENVELOPE `+mixedEnvelope+` BODY `+mixedBodyStructure(false)+`)`,
		`d OK FETCH completed`)
	check(t, c.exchange("e", "FETCH 2 BODYSTRUCTURE"),
		`* 2 FETCH (BODYSTRUCTURE `+mixedBodyStructure(true)+`)`,
		`e OK FETCH completed`)
	check(t, c.exchange("f", "FETCH 1 (BODYSTRUCTURE BODY)"),
		`* 1 FETCH (BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" `+simpleSize+` 1 NIL NIL NIL NIL) BODY ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" `+simpleSize+` 1))`,
		`f OK FETCH completed`)
	// UID FETCH always includes UID, first.
	check(t, c.exchange("g", "UID FETCH 1:* (FLAGS)"),
		`* 1 FETCH (UID 1 FLAGS ())`, `* 2 FETCH (UID 2 FLAGS ())`, `* 3 FETCH (UID 3 FLAGS ())`,
		`g OK UID FETCH completed`)
	got := c.exchange("h", "FETCH 1 (EMAILID THREADID SAVEDATE)")
	if !matches(`^\* 1 FETCH \(EMAILID \(M[0-9a-f]+\) THREADID \(T[0-9a-f]+\) SAVEDATE "[ \d]\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [+-]\d{4}"\)\r\nh OK FETCH completed\r\n$`, got) {
		t.Errorf("object ids: %q", got)
	}
	if got := c.exchange("i", "FETCH 1 (BODY.PEEK[] BODY.PEEK[])"); strings.Count(got, "BODY[]") != 1 {
		t.Errorf("duplicate item answered twice: %q", got)
	}
}

func TestFetchSections(t *testing.T) {
	env := fetchEnv(t)
	c := env.selectInbox()
	lit := func(s string) string { return "{" + strconv.Itoa(len(s)) + "}\r\n" + s }
	for _, tc := range []struct{ cmd, want string }{
		{"BODY.PEEK[]", "BODY[] " + lit(fetchMixed)},
		{"BODY.PEEK[HEADER]", "BODY[HEADER] " + lit(fetchMixedHeader)},
		{"BODY.PEEK[TEXT]", "BODY[TEXT] " + lit(fetchMixedBody)},
		{"BODY.PEEK[1]", "BODY[1] " + lit(fetchPart1Body)},
		{"BODY.PEEK[1.MIME]", "BODY[1.MIME] " + lit(fetchPart1MIME)},
		{"BODY.PEEK[2]", "BODY[2] " + lit("AAEC/w==")},
		{"BODY.PEEK[3]", "BODY[3] " + lit(fetchPart3Body)},
		{"BODY.PEEK[3.HEADER]", "BODY[3.HEADER] " + lit(fetchInnerHeader)},
		{"BODY.PEEK[3.TEXT]", "BODY[3.TEXT] " + lit(fetchInnerBody)},
		{"BODY.PEEK[3.1]", "BODY[3.1] " + lit("plain")},
		{"BODY.PEEK[3.2]", "BODY[3.2] " + lit("<b>html</b>")},
		{"BODY.PEEK[3.2.MIME]", "BODY[3.2.MIME] " + lit(crlf("Content-Type: text/html\n\n"))},
		{"BODY.PEEK[4]", "BODY[4] " + lit("")},
		{"BODY.PEEK[HEADER.FIELDS (Subject message-id)]", "BODY[HEADER.FIELDS (Subject message-id)] " +
			lit(crlf("Subject: =?UTF-8?Q?Caf=C3=A9?= report\nMessage-ID: <m2@example.org>\n\n"))},
		{"BODY.PEEK[3.HEADER.FIELDS.NOT (Content-Type)]", "BODY[3.HEADER.FIELDS.NOT (Content-Type)] " +
			lit(crlf("From: inner@example.org\nSubject: inner\n\n"))},
		{`BODY.PEEK[HEADER.FIELDS ("X-Nothing")]`, `BODY[HEADER.FIELDS (X-Nothing)] ` + lit("\r\n")},
		// Partial fetches (RFC 9051 6.4.5): origin in the response,
		// truncated at the end, empty past it.
		{"BODY.PEEK[]<0.4>", "BODY[]<0> " + lit("From")},
		{"BODY.PEEK[1]<4.100>", "BODY[1]<4> " + lit(fetchPart1Body[4:])},
		{"BODY.PEEK[1]<400.10>", "BODY[1]<400> " + lit("")},
		{"BODY.PEEK[HEADER.FIELDS (Subject)]<9.7>", "BODY[HEADER.FIELDS (Subject)]<9> " + lit("=?UTF-8")},
		{"RFC822.HEADER", "RFC822.HEADER " + lit(fetchMixedHeader)},
		{"BINARY.PEEK[1]", `BINARY[1] {10}` + "\r\nCafé olé"},
		{"BINARY.PEEK[2]", "BINARY[2] ~{4}\r\n\x00\x01\x02\xff"},
		{"BINARY.PEEK[2]<1.2>", "BINARY[2]<1> " + lit("\x01\x02")},
		{"BINARY.PEEK[2]<3.2>", "BINARY[2]<3> {1}\r\n\xff"},
		{"BINARY.SIZE[1]", "BINARY.SIZE[1] 10"},
		{"BINARY.SIZE[2]", "BINARY.SIZE[2] 4"},
		{"BINARY.PEEK[3.1]", "BINARY[3.1] " + lit("plain")},
	} {
		got := c.exchange("a", "FETCH 2 ("+tc.cmd+")")
		want := "* 2 FETCH (" + tc.want + ")\r\na OK FETCH completed\r\n"
		if got != want {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.cmd, got, want)
		}
	}
	// None of the PEEK forms set \Seen.
	check(t, c.exchange("f", "FETCH 2 FLAGS"), `* 2 FETCH (FLAGS ())`, `f OK FETCH completed`)

	// RFC 3516 4.3 / RFC 9051 6.4.5: UNKNOWN-CTE.
	check(t, c.exchange("u", "FETCH 3 BINARY.PEEK[1]"), `u NO [UNKNOWN-CTE] Cannot decode the transfer encoding of part 1 of message 3`)
	check(t, c.exchange("v", "FETCH 3 BINARY.SIZE[1]"), `v NO [UNKNOWN-CTE] Cannot decode the transfer encoding of part 1 of message 3`)
	// BODY[] of the same part is fine.
	check(t, c.exchange("w", "FETCH 3 BODY.PEEK[1]"), `* 3 FETCH (BODY[1] {11}`, `begin 644 f)`, `w OK FETCH completed`)
}

func TestFetchErrors(t *testing.T) {
	env := fetchEnv(t)
	c := env.selectInbox()
	for _, tc := range []struct{ cmd, want string }{
		{"FETCH 4 FLAGS", `BAD Invalid message sequence number`},
		{"FETCH 1 (FLAGS", `BAD expected ' ', got '\r'`},
		{"FETCH 1 ()", `BAD FETCH needs at least one data item`},
		{"FETCH 1 FOO", `BAD Unknown FETCH data item FOO`},
		{"FETCH 1 BODY[FOO]", `BAD Unknown section FOO`},
		{"FETCH 1 BODY[MIME]", `BAD MIME needs a part number`},
		{"FETCH 1 BODY[0]", `BAD expected a non-zero number`},
		{"FETCH 1 BODY[1.]", `BAD Section ends with a dot`},
		{"FETCH 1 BODY[HEADER.FIELDS ()]", `BAD HEADER.FIELDS needs at least one field name`},
		{"FETCH 1 BODY[HEADER.FIELDS (a:b)]", `BAD Invalid header field name`},
		{"FETCH 1 BODY[]<0.0>", `BAD A partial fetch needs a non-zero length`},
		{"FETCH 1 BINARY[1.TEXT]", `BAD BINARY takes only a part number`},
		{"FETCH 1 BINARY.SIZE[1]<0.1>", `BAD expected end of line, got '<'`},
		{"FETCH 1 FLAGS (CHANGEDSINCE 0)", `BAD CHANGEDSINCE needs a non-zero mod-sequence`},
		{"FETCH 1 FLAGS (FOO)", `BAD Unknown FETCH modifier FOO`},
		{"FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)", `BAD VANISHED is only allowed with UID FETCH`},
		{"UID FETCH 1 FLAGS (VANISHED)", `BAD VANISHED needs CHANGEDSINCE`},
		{"UID FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)", `BAD VANISHED needs QRESYNC enabled`},
	} {
		got := c.exchange("x", tc.cmd)
		if want := "x " + tc.want + "\r\n"; got != want {
			t.Errorf("%s: got %q, want %q", tc.cmd, got, want)
		}
	}
	// FETCH outside the selected state.
	c2 := env.dial()
	c2.login()
	check(t, c2.exchange("y", "FETCH 1 FLAGS"), `y BAD FETCH is not valid in the authenticated state`)
}

func TestFetchSetsSeen(t *testing.T) {
	env := fetchEnv(t)
	c := env.selectInbox()
	// BODY[] sets \Seen; the change comes with the message (RFC 9051 6.4.5).
	check(t, c.exchange("a", "FETCH 1 BODY[]<0.4>"), `* 1 FETCH (BODY[]<0> {4}`, `Date FLAGS (\Seen))`, `a OK FETCH completed`)
	// Already seen: no FLAGS added.
	check(t, c.exchange("b", "FETCH 1 BODY[]<0.4>"), `* 1 FETCH (BODY[]<0> {4}`, `Date)`, `b OK FETCH completed`)
	// Requested FLAGS carry the new state, even when asked before BODY.
	check(t, c.exchange("c", "FETCH 2 (FLAGS BINARY[1]<0.3>)"), `* 2 FETCH (FLAGS (\Seen) BINARY[1]<0> {3}`, `Caf)`, `c OK FETCH completed`)
	// RFC822.TEXT sets it too; RFC822.HEADER does not.
	check(t, c.exchange("d", "FETCH 3 RFC822.HEADER"), `* 3 FETCH (RFC822.HEADER {`+strconv.Itoa(strings.Index(fetchUnknownCTE, "\r\n\r\n")+4)+`}`, `From: x@example.org`, `Subject: uu`,
		`Content-Type: multipart/mixed; boundary=b`, ``, `)`, `d OK FETCH completed`)
	if st := env.inboxState(3); st.Flags.System&store.FlagSeen != 0 {
		t.Fatal("RFC822.HEADER set \\Seen")
	}
	// The sync point does not repeat what the FETCH said.
	check(t, c.exchange("e", "NOOP"), `e OK NOOP completed`)

	// With CONDSTORE on, the implicit change carries UID and MODSEQ
	// (RFC 7162 3.2.4).
	// ENABLE with a mailbox selected reports its HIGHESTMODSEQ (RFC 7162 3.1).
	check(t, c.exchange("f", "ENABLE CONDSTORE"), `* ENABLED CONDSTORE`, fmt.Sprintf(`* OK [HIGHESTMODSEQ %d] Highest`, env.mailbox("INBOX").HighestModSeq), `f OK ENABLE completed`)
	got := c.exchange("g", "FETCH 3 RFC822.SIZE")
	check(t, got, `* 3 FETCH (RFC822.SIZE `+strconv.Itoa(len(fetchUnknownCTE))+`)`, `g OK FETCH completed`)
	got = c.exchange("h", "FETCH 3 BODY[HEADER.FIELDS (Subject)]")
	st := env.inboxState(3)
	check(t, got, fmt.Sprintf(`* 3 FETCH (UID 3 MODSEQ (%d) BODY[HEADER.FIELDS (Subject)] {15}`, st.ModSeq), `Subject: uu`, ``, ` FLAGS (\Seen))`, `h OK FETCH completed`)
	check(t, c.exchange("i", "NOOP"), `i OK NOOP completed`)

	// EXAMINE never sets \Seen.
	env.appendRaw(fetchDate, store.Flags{}, fetchSimple)
	c2 := env.dial()
	c2.login()
	c2.send("s EXAMINE INBOX")
	c2.until("s OK")
	check(t, c2.exchange("a", "FETCH 4 BODY[]<0.4>"), `* 4 FETCH (BODY[]<0> {4}`, `Date)`, `a OK FETCH completed`)
	if st := env.inboxState(4); st.Flags.System&store.FlagSeen != 0 {
		t.Fatal("FETCH in EXAMINE set \\Seen")
	}
	// Another session learns of the new message at its next sync.
	check(t, c.exchange("k", "NOOP"), `* 4 EXISTS`, `* 0 RECENT`, `k OK NOOP completed`)
	check(t, c.exchange("j", "FETCH 4 BODY[]<0.4>"), `* 4 FETCH (UID 4 MODSEQ (`+strconv.FormatUint(uint64(env.inboxState(4).ModSeq), 10)+`) BODY[]<0> {4}`, `Date FLAGS (\Seen))`, `j OK FETCH completed`)
}

func matches(re, s string) bool {
	return regexp.MustCompile(re).MatchString(s)
}

func TestFetchChangedSinceVanished(t *testing.T) {
	env := newTestEnv(t, nil)
	res := env.appendMessages("INBOX", 4, store.Flags{})
	m0 := res.ModSeq
	a := env.account()
	mb, _ := a.Mailbox(context.Background(), "INBOX")
	if _, err := a.SetFlags(context.Background(), mb.ID, store.UIDSetOf(2), store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Expunge(context.Background(), mb.ID, store.UIDSetOf(3)); err != nil {
		t.Fatal(err)
	}
	ms := func(n store.ModSeq) string { return strconv.FormatUint(uint64(n), 10) }

	// Without QRESYNC: CHANGEDSINCE alone enables CONDSTORE and implies
	// MODSEQ (RFC 7162 3.1.4.1).
	c := env.selectInbox()
	// The first CONDSTORE-enabling command with a mailbox selected reports
	// HIGHESTMODSEQ (RFC 7162 3.1).
	check(t, c.exchange("a", "FETCH 1:* (MODSEQ)"), `* OK [HIGHESTMODSEQ `+ms(m0+2)+`] Highest`,
		`* 1 FETCH (MODSEQ (`+ms(m0)+`))`, `* 2 FETCH (MODSEQ (`+ms(m0+1)+`))`, `* 3 FETCH (MODSEQ (`+ms(m0)+`))`, `a OK FETCH completed`)
	check(t, c.exchange("b", "FETCH 1:* (FLAGS) (CHANGEDSINCE "+ms(m0)+")"),
		`* 2 FETCH (MODSEQ (`+ms(m0+1)+`) FLAGS (\Flagged))`, `b OK FETCH completed`)
	check(t, c.exchange("c", "UID FETCH 1:* (ENVELOPE) (CHANGEDSINCE "+ms(m0)+")"),
		`* 2 FETCH (UID 2 MODSEQ (`+ms(m0+1)+`) ENVELOPE (NIL "m1" ((NIL NIL "a" "example.org")) ((NIL NIL "a" "example.org")) ((NIL NIL "a" "example.org")) NIL NIL NIL NIL NIL))`,
		`c OK UID FETCH completed`)
	check(t, c.exchange("d", "FETCH 1:* (FLAGS) (CHANGEDSINCE "+ms(m0+1)+")"), `d OK FETCH completed`)
	// FETCH MODSEQ enabled CONDSTORE: another writer's change now comes
	// with MODSEQ, and UID (RFC 7162 3.2.4).
	if _, err := a.SetFlags(context.Background(), mb.ID, store.UIDSetOf(1), store.FlagsAdd, store.Flags{System: store.FlagAnswered}, 0); err != nil {
		t.Fatal(err)
	}
	check(t, c.exchange("e", "NOOP"), `* 1 FETCH (UID 1 FLAGS (\Answered) MODSEQ (`+ms(m0+3)+`))`, `e OK NOOP completed`)

	// With QRESYNC: VANISHED (EARLIER) first, for the requested UIDs only.
	q := env.dial()
	q.login()
	check(t, q.exchange("e", "ENABLE QRESYNC"), `* ENABLED CONDSTORE QRESYNC`, `e OK ENABLE completed`)
	q.send("s SELECT INBOX")
	q.until("s OK")
	check(t, q.exchange("f", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE "+ms(m0)+" VANISHED)"),
		`* VANISHED (EARLIER) 3`,
		`* 1 FETCH (UID 1 MODSEQ (`+ms(m0+3)+`) FLAGS (\Answered))`,
		`* 2 FETCH (UID 2 MODSEQ (`+ms(m0+1)+`) FLAGS (\Flagged))`,
		`f OK UID FETCH completed`)
	check(t, q.exchange("g", "UID FETCH 4 (FLAGS) (CHANGEDSINCE "+ms(m0)+" VANISHED)"), `g OK UID FETCH completed`)
	// Expunges at the end of the mailbox are still found through "*".
	if _, err := a.Expunge(context.Background(), mb.ID, store.UIDSetOf(4)); err != nil {
		t.Fatal(err)
	}
	check(t, q.exchange("h", "NOOP"), `* VANISHED 4`, `h OK NOOP completed`)
	check(t, q.exchange("i", "UID FETCH 2:* (FLAGS) (CHANGEDSINCE "+ms(m0+1)+" VANISHED)"),
		`* VANISHED (EARLIER) 3:4`, `i OK UID FETCH completed`)
}

// TestFetchImapclient reads the mixed fixture with go-imap's client, an
// independent parser of ENVELOPE, BODYSTRUCTURE, sections and BINARY.
func TestFetchImapclient(t *testing.T) {
	env := fetchEnv(t)
	cl, err := imapclient.DialInsecure(env.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login(testUser, testPass).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	subject := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}, Peek: true}
	text := &imap.FetchItemBodySection{Part: []int{3, 1}, Peek: true}
	bin := &imap.FetchItemBinarySection{Part: []int{2}, Peek: true}
	msgs, err := cl.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, RFC822Size: true, InternalDate: true,
		BodyStructure:     &imap.FetchItemBodyStructure{Extended: true},
		BodySection:       []*imap.FetchItemBodySection{subject, text},
		BinarySection:     []*imap.FetchItemBinarySection{bin},
		BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{1}}},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.UID != 2 || m.RFC822Size != int64(len(fetchMixed)) || !m.InternalDate.Equal(fetchDate) {
		t.Errorf("uid %d size %d date %v", m.UID, m.RFC822Size, m.InternalDate)
	}
	envl := m.Envelope
	if envl.Subject != "Café report" || envl.MessageID != "m2@example.org" || len(envl.InReplyTo) != 1 || envl.InReplyTo[0] != "m1@example.org" ||
		!envl.Date.Equal(time.Date(2025, 4, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("envelope %+v", envl)
	}
	if len(envl.From) != 1 || envl.From[0].Name != "Alice Example" || envl.From[0].Addr() != "alice@example.org" || len(envl.Sender) != 1 {
		t.Errorf("from %+v sender %+v", envl.From, envl.Sender)
	}
	if len(envl.To) != 5 || !envl.To[1].IsGroupStart() || envl.To[1].Mailbox != "Team" || !envl.To[4].IsGroupEnd() || envl.To[3].Addr() != "dave@example.net" {
		t.Errorf("to %+v", envl.To)
	}
	mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || mp.Subtype != "MIXED" && mp.Subtype != "mixed" || len(mp.Children) != 3 || mp.Extended == nil || mp.Extended.Params["boundary"] != "outer" {
		t.Fatalf("body structure %#v", m.BodyStructure)
	}
	p2 := mp.Children[1].(*imap.BodyStructureSinglePart)
	if p2.MediaType() != "application/octet-stream" || p2.Size != 8 || p2.ID != "<part2@example.org>" || p2.Filename() != "data.bin" ||
		p2.Extended == nil || strings.Join(p2.Extended.Language, ",") != "en,fr" || p2.Extended.Location != "http://example.org/data.bin" ||
		!strings.EqualFold(p2.Extended.Disposition.Value, "attachment") {
		t.Errorf("part 2 %+v ext %+v", p2, p2.Extended)
	}
	p3 := mp.Children[2].(*imap.BodyStructureSinglePart)
	if p3.MessageRFC822 == nil || p3.MessageRFC822.Envelope.Subject != "inner" || p3.MessageRFC822.NumLines != int64(lines(fetchPart3Body)) ||
		p3.MessageRFC822.BodyStructure.MediaType() != "multipart/alternative" {
		t.Errorf("part 3 %+v", p3.MessageRFC822)
	}
	if got := string(m.FindBodySection(subject)); got != "Subject: =?UTF-8?Q?Caf=C3=A9?= report\r\n\r\n" {
		t.Errorf("header fields %q", got)
	}
	if got := string(m.FindBodySection(text)); got != "plain" {
		t.Errorf("3.1 %q", got)
	}
	if got := m.FindBinarySection(bin); string(got) != "\x00\x01\x02\xff" {
		t.Errorf("binary %q", got)
	}
	if n, ok := m.FindBinarySectionSize([]int{1}); !ok || n != 10 {
		t.Errorf("binary size %d %v", n, ok)
	}
	if len(m.Flags) != 0 {
		t.Errorf("flags %v after PEEK", m.Flags)
	}
}

// lockedLog is a log destination safe for the server and a test at once.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A message file cut short under the server: FETCH BODY[] has announced
// the literal's size when the read fails, so the connection must end, and
// the log says why at error level rather than as a client leaving.
func TestFetchUnreadableBlobIsLogged(t *testing.T) {
	var logs lockedLog
	e := newTestEnv(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	if _, ok := e.store.(*sqlitestore.Store); !ok {
		t.Skip("cuts a blob file of the embedded store")
	}
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 8000) // above the inline limit: a file
	a := e.account()
	inbox, err := a.Mailbox(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(context.Background(), inbox.ID, []store.NewMessage{{Body: strings.NewReader(big)}}); err != nil {
		t.Fatal(err)
	}
	var files []string
	filepath.WalkDir(filepath.Join(e.dir, "users", testUser), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, string(filepath.Separator)+"blobs"+string(filepath.Separator)) {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 1 {
		t.Fatalf("blob files %v", files)
	}
	if err := os.Truncate(files[0], 1000); err != nil {
		t.Fatal(err)
	}
	c := e.dial()
	c.login()
	c.send("s SELECT INBOX")
	c.until("s OK")
	c.send("f FETCH 1 BODY.PEEK[]")
	// Whatever was sent before the read failed, the literal is never
	// completed and the command never answered: the connection ends.
	c.conn.SetReadDeadline(time.Now().Add(hangDeadline))
	rest, err := io.ReadAll(c.r)
	if err != nil {
		t.Fatalf("connection not closed: %v", err)
	}
	if len(rest) >= len(big) || strings.Contains(string(rest), "f OK") {
		t.Fatalf("%d bytes sent of a %d-byte literal whose file holds 1000", len(rest), len(big))
	}
	deadline := time.Now().Add(hangDeadline)
	for !strings.Contains(logs.String(), "message content unreadable") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if out := logs.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "message content unreadable") || !strings.Contains(out, "user="+testUser) {
		t.Fatalf("log:\n%s", out)
	}
}
