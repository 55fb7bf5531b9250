package server

import (
	"bufio"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/corpus"
)

// TestConformanceAgainstDovecot runs the same IMAP4rev1 lines against
// Tidemark and a reference Dovecot (../shared/refservers/dovecot.sh, named
// by TIDEMARK_REF_DOVECOT as in .ci/run) and checks that both answer alike
// where the behaviour should match: \Recent (STATUS, EXAMINE, the first and
// the second SELECT, FETCH FLAGS, SEARCH NEW), message content as a
// literal, SEARCH past the end, group syntax in ENVELOPE and SEARCH, and
// names that are not valid modified UTF-7. Where Tidemark deliberately
// differs (a group member that is not an address is left out), the check
// says so.
func TestConformanceAgainstDovecot(t *testing.T) {
	addr := os.Getenv("TIDEMARK_REF_DOVECOT")
	if addr == "" {
		if corpus.Required() {
			t.Fatal("TIDEMARK_CI is set but TIDEMARK_REF_DOVECOT names no reference Dovecot")
		}
		t.Skip("TIDEMARK_REF_DOVECOT not set (start ../shared/refservers/dovecot.sh and name it, e.g. 127.0.0.1:11143)")
	}
	env := newTestEnv(t, nil)
	tm := conformanceScript(t, env.addr, testUser, testPass)
	dc := conformanceScript(t, addr, "testuser97", "pass")
	for _, k := range conformanceKeys {
		t.Logf("%s: %q", k, tm[k])
		if tm[k] != dc[k] {
			t.Errorf("%s:\n tidemark %q\n dovecot  %q", k, tm[k], dc[k])
		}
	}
	// Dovecot keeps a group member that is not an address with
	// placeholders; Tidemark leaves it out (RFC 9051 7.5.2 has no form
	// for it).
	if !strings.Contains(dc["envelope-cc"], `(NIL NIL "just-a-name" "MISSING_DOMAIN")`) ||
		strings.Contains(tm["envelope-cc"], "just-a-name") {
		t.Errorf("group member: tidemark %q, dovecot %q", tm["envelope-cc"], dc["envelope-cc"])
	}
}

// conformanceKeys are the outcomes compared.
var conformanceKeys = []string{
	"status-before", "examine-recent", "examine-flags", "status-after-examine",
	"select-recent", "select-flags", "body-partial", "search-new",
	"search-1000", "search-min-1000", "uid-search-1000", "search-to-group", "search-cc-group",
	"envelope-to", "second-select-recent",
	"select-bad-name", "list-bad-name", "create-bad-name", "status-bad-name",
}

// conformanceScript runs the script as one user on the server at addr and
// returns each step's outcome, normalized: untagged lines that matter,
// then the tagged status word (OK, NO, BAD) without the text.
func conformanceScript(t *testing.T, addr, user, pass string) map[string]string {
	t.Helper()
	dial := func() *client {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
		c.expect(`^\* OK `)
		c.send("l LOGIN " + user + " " + pass)
		c.until("l OK")
		return c
	}
	out := map[string]string{}
	// run sends a command and records the lines matching keep (joined)
	// and the tagged status.
	run := func(c *client, key, tag, cmd, keep string) {
		t.Helper()
		got := c.exchange(tag, cmd)
		lines := strings.Split(strings.TrimSuffix(got, "\r\n"), "\r\n")
		var kept []string
		re := regexp.MustCompile(keep)
		for _, l := range lines[:len(lines)-1] {
			if keep != "" && re.MatchString(l) {
				kept = append(kept, l)
			}
		}
		status := strings.Fields(strings.TrimPrefix(lines[len(lines)-1], tag+" "))[0]
		if key != "" {
			out[key] = strings.Join(append(kept, status), " | ")
		}
	}
	const box = "Conformance"
	a, b := dial(), dial()
	run(a, "", "d0", "DELETE "+box, "")
	run(a, "", "c", "CREATE "+box, "")
	t.Cleanup(func() { a.send("z DELETE " + box) })
	for _, tag := range []string{"p1", "p2"} {
		a.sendRaw(tag + " APPEND " + box + " " + literal("+", groupMessage) + "\r\n")
		a.until(tag + " ")
	}
	run(a, "status-before", "s1", "STATUS "+box+" (MESSAGES RECENT)", `^\* STATUS`)
	run(b, "examine-recent", "e", "EXAMINE "+box, `RECENT$`)
	run(b, "examine-flags", "ef", "FETCH 1:* FLAGS", `FETCH`)
	run(a, "status-after-examine", "s2", "STATUS "+box+" (RECENT)", `^\* STATUS`)
	run(a, "select-recent", "x", "SELECT "+box, `RECENT$`)
	run(a, "select-flags", "xf", "FETCH 1:* FLAGS", `FETCH`)
	run(a, "body-partial", "bp", "FETCH 1 BODY.PEEK[]<0.20>", `.`)
	run(a, "search-new", "q0", "SEARCH NEW", `^\* SEARCH`)
	run(a, "search-1000", "q1", "SEARCH 1000", `^\* SEARCH`)
	run(a, "search-min-1000", "q2", "SEARCH RETURN (MIN) 1000", `^\* ESEARCH`)
	run(a, "uid-search-1000", "q3", "UID SEARCH 1000", `^\* SEARCH`)
	run(a, "search-to-group", "q4", "SEARCH TO undisclosed", `^\* SEARCH`)
	run(a, "search-cc-group", "q5", "SEARCH CC team", `^\* SEARCH`)
	got := a.exchange("en", "FETCH 1 ENVELOPE")
	// Date, Subject, From, Sender, Reply-To, To, Cc, Bcc...
	items := envelopeItems(got)
	if len(items) != 10 {
		t.Fatalf("%s: ENVELOPE not understood in %q", addr, got)
	}
	out["envelope-to"], out["envelope-cc"] = items[5], items[6]
	run(b, "second-select-recent", "y", "SELECT "+box, `RECENT$`)
	run(a, "select-bad-name", "m1", "SELECT a&b", "")
	run(a, "list-bad-name", "m2", `LIST "" a&b`, `^\* LIST`)
	run(a, "create-bad-name", "m3", "CREATE a&b", "")
	run(a, "status-bad-name", "m4", "STATUS a&b (MESSAGES)", "")
	return out
}

// envelopeItems splits the ENVELOPE list of a FETCH response into its ten
// top-level items, as written.
func envelopeItems(resp string) []string {
	i := strings.Index(resp, "ENVELOPE (")
	if i < 0 {
		return nil
	}
	s := resp[i+len("ENVELOPE ("):]
	var items []string
	depth, start, quoted := 0, 0, false
	for j := 0; j < len(s); j++ {
		c := s[j]
		switch {
		case quoted && c == '\\':
			j++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')' && depth == 0:
			return append(items, s[start:j])
		case c == ')':
			depth--
		case c == ' ' && depth == 0:
			items = append(items, s[start:j])
			start = j + 1
		}
	}
	return nil
}
