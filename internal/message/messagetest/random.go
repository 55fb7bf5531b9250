// Package messagetest makes random but well-formed and tricky messages
// for tests of searching: multi-byte text, RFC 2047 encoded words,
// quoted-printable and base64 bodies, ISO-8859-1 parts, attachments whose
// text must not match BODY, encapsulated messages and group addresses;
// and search strings drawn from them (short ones, case-changed ones, ones
// spanning line breaks). Every choice comes from the *rand.Rand given, so
// a seed reproduces a run.
package messagetest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"mime"
	"mime/quotedprintable"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Words are the vocabulary of generated text: ASCII, Latin-1 accents,
// Greek, CJK, and letters whose case folding is special (ß, ſ, K KELVIN
// SIGN, İ, final sigma).
var Words = []string{
	"xylograph", "alpha", "Bravo", "CHARLIE", "delta", "echo", "foxtrot", "invoice", "meeting",
	"naïve", "garçon", "Crème", "brûlée", "Grüße", "STRASSE", "straße", "ſecret", "\u212Aelvin",
	"İstanbul", "ΣΟΦΊΑ", "σοφίας", "日本語", "テキスト", "한국어", "emoji😀ok", "a-b_c", "x", "ab",
}

// latin1Words can be written in ISO-8859-1.
var latin1Words = []string{"naïve", "garçon", "Crème", "brûlée", "Grüße", "straße", "alpha", "delta", "Émile"}

// Message returns a random message (CRLF line ends).
func Message(r *rand.Rand) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", address(r))
	fmt.Fprintf(&b, "To: %s\r\n", addressList(r))
	if r.IntN(2) == 0 {
		fmt.Fprintf(&b, "Cc: %s\r\n", addressList(r))
	}
	if r.IntN(4) == 0 {
		fmt.Fprintf(&b, "Bcc: %s\r\n", addressList(r))
	}
	fmt.Fprintf(&b, "Subject: %s\r\n", headerText(r, 1+r.IntN(5)))
	fmt.Fprintf(&b, "X-Label: %s\r\n", headerText(r, 1+r.IntN(3)))
	b.WriteString("Date: Tue, 3 Mar 2020 23:30:00 -0800\r\nMIME-Version: 1.0\r\n")
	body(r, &b, 0)
	return b.Bytes()
}

func word(r *rand.Rand) string { return Words[r.IntN(len(Words))] }

// Text returns n random words separated by spaces, with a line break
// now and then.
func Text(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			if r.IntN(8) == 0 {
				b.WriteString("\r\n")
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString(word(r))
	}
	return b.String()
}

// headerText is n words, sometimes as RFC 2047 encoded words.
func headerText(r *rand.Rand, n int) string {
	t := strings.ReplaceAll(Text(r, n), "\r\n", " ")
	switch r.IntN(3) {
	case 0:
		return mime.BEncoding.Encode("UTF-8", t)
	case 1:
		return mime.QEncoding.Encode("UTF-8", t)
	}
	if isASCII(t) {
		return t
	}
	return mime.QEncoding.Encode("UTF-8", t)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

var locals = []string{"someone", "bob", "alice.smith", "ops", "xylo"}
var domains = []string{"example.com", "example.org", "mail.test"}

func address(r *rand.Rand) string {
	a := locals[r.IntN(len(locals))] + "@" + domains[r.IntN(len(domains))]
	if r.IntN(2) == 0 {
		return a
	}
	return headerText(r, 1+r.IntN(2)) + " <" + a + ">"
}

func addressList(r *rand.Rand) string {
	if r.IntN(6) == 0 {
		return "Team " + word(r) + ": " + address(r) + ";"
	}
	n := 1 + r.IntN(3)
	as := make([]string, n)
	for i := range as {
		as[i] = address(r)
	}
	return strings.Join(as, ", ")
}

// body writes the Content-Type and the body of one part (and the blank
// line between them).
func body(r *rand.Rand, b *bytes.Buffer, depth int) {
	kind := r.IntN(7)
	if depth >= 2 {
		kind = 0
	}
	switch kind {
	case 0, 1, 2:
		leaf(r, b)
	case 3, 4:
		boundary := fmt.Sprintf("b%d-%d", depth, r.Uint32())
		sub := []string{"mixed", "alternative"}[r.IntN(2)]
		fmt.Fprintf(b, "Content-Type: multipart/%s; boundary=%q\r\n\r\npreamble %s\r\n", sub, boundary, word(r))
		for range 1 + r.IntN(3) {
			fmt.Fprintf(b, "--%s\r\n", boundary)
			body(r, b, depth+1)
			b.WriteString("\r\n")
		}
		fmt.Fprintf(b, "--%s--\r\nepilogue %s\r\n", boundary, word(r))
	case 5:
		// An attachment: its words must not match BODY.
		fmt.Fprintf(b, "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n",
			wrap(base64.StdEncoding.EncodeToString([]byte(Text(r, 6)))))
	case 6:
		b.WriteString("Content-Type: message/rfc822\r\n\r\n")
		fmt.Fprintf(b, "From: %s\r\nSubject: %s\r\n", address(r), headerText(r, 2))
		body(r, b, depth+1)
	}
}

func leaf(r *rand.Rand, b *bytes.Buffer) {
	sub := []string{"plain", "html"}[r.IntN(2)]
	text := Text(r, 3+r.IntN(40))
	if r.IntN(5) == 0 {
		// Latin-1 text in ISO-8859-1.
		ws := make([]string, 3+r.IntN(10))
		for i := range ws {
			ws[i] = latin1Words[r.IntN(len(latin1Words))]
		}
		enc := latin1(strings.Join(ws, " "))
		fmt.Fprintf(b, "Content-Type: text/%s; charset=ISO-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n%s\r\n", sub, qp(enc))
		return
	}
	switch r.IntN(4) {
	case 0:
		fmt.Fprintf(b, "Content-Type: text/%s; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n%s\r\n", sub, qp(text))
	case 1:
		fmt.Fprintf(b, "Content-Type: text/%s; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n",
			sub, wrap(base64.StdEncoding.EncodeToString([]byte(text))))
	default:
		fmt.Fprintf(b, "Content-Type: text/%s; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n", sub, text)
	}
}

// latin1 encodes s, whose runes are all below U+0100, as ISO-8859-1.
func latin1(s string) string {
	b := make([]byte, 0, len(s))
	for _, c := range s {
		b = append(b, byte(c))
	}
	return string(b)
}

func qp(s string) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return strings.ReplaceAll(strings.ReplaceAll(b.String(), "\r\n", "\n"), "\n", "\r\n")
}

func wrap(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76])
		b.WriteString("\r\n")
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}

// Needle returns a random search string: a word, a piece of one (one or
// two characters included), a case-changed one, a string across a word
// break or a line break, or one that appears nowhere.
func Needle(r *rand.Rand) string {
	w := word(r)
	switch r.IntN(9) {
	case 0:
		return w
	case 1:
		return strings.ToUpper(w)
	case 2, 3:
		rs := []rune(w)
		i := r.IntN(len(rs))
		j := i + 1 + r.IntN(min(4, len(rs)-i))
		return string(rs[i:j])
	case 4:
		rs := []rune(w)
		return string(rs[len(rs)-min(2, len(rs)):]) + " " + string([]rune(word(r))[:1])
	case 5:
		rs := []rune(w)
		return string(rs[len(rs)-1:]) + "\r\n" + string([]rune(word(r))[:1])
	case 6:
		return locals[r.IntN(len(locals))] + "@"
	case 7:
		return "label: " + w
	}
	return "zq" + w
}

// Literal writes s as a non-synchronizing literal (RFC 7888), so any
// bytes, CRLF included, can be searched for.
func Literal(s string) string { return "{" + strconv.Itoa(len(s)) + "+}\r\n" + s }

// SearchKey returns one random SEARCH key comparing strings (BODY, TEXT,
// SUBJECT, the address keys, HEADER, or OR/NOT of BODY and TEXT), its
// strings as literals.
func SearchKey(r *rand.Rand) string {
	n := Literal(Needle(r))
	switch r.IntN(10) {
	case 0, 1:
		return "BODY " + n
	case 2, 3:
		return "TEXT " + n
	case 4:
		return "SUBJECT " + n
	case 5:
		return "FROM " + n
	case 6:
		return "TO " + n
	case 7:
		return []string{"CC ", "BCC "}[r.IntN(2)] + n
	case 8:
		return "HEADER " + []string{"X-Label ", "Subject ", "From "}[r.IntN(3)] + n
	}
	return "OR BODY " + n + " NOT TEXT " + Literal(Needle(r))
}
