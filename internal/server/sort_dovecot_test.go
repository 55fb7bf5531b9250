package server

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/corpus"
	"github.com/tidemark-mail/tidemark/internal/loadtest"
)

// TestSortThreadAgainstDovecot appends the 2,000 messages of the benchmark
// corpus (../shared/data/bench.mbox: encoded-word subjects, Re: chains,
// replies with References and In-Reply-To, messages repeated with the
// same Message-ID) to Tidemark and to the reference Dovecot
// (TIDEMARK_REF_DOVECOT), runs every SORT criterion and every THREAD
// algorithm on both, and requires identical answers.
func TestSortThreadAgainstDovecot(t *testing.T) {
	addr := os.Getenv("TIDEMARK_REF_DOVECOT")
	if addr == "" {
		if corpus.Required() {
			t.Fatal("TIDEMARK_CI is set but TIDEMARK_REF_DOVECOT names no reference Dovecot")
		}
		t.Skip("TIDEMARK_REF_DOVECOT not set (start ../shared/refservers/dovecot.sh and name it, e.g. 127.0.0.1:11143)")
	}
	msgs, err := loadtest.ReadMbox(corpus.Path())
	if err != nil {
		if corpus.Required() {
			t.Fatal(err)
		}
		t.Skipf("no corpus: %v", err)
	}
	env := newTestEnv(t, nil)
	cmds := []string{
		"SORT (DATE) UTF-8 ALL", "SORT (ARRIVAL) UTF-8 ALL", "SORT (SUBJECT) UTF-8 ALL",
		"SORT (FROM) UTF-8 ALL", "SORT (TO) UTF-8 ALL", "SORT (CC) UTF-8 ALL", "SORT (SIZE) UTF-8 ALL",
		"SORT (REVERSE DATE SUBJECT) UTF-8 ALL", "SORT (DISPLAYFROM) UTF-8 ALL", "SORT (DISPLAYTO) UTF-8 ALL",
		"SORT (REVERSE FROM REVERSE SIZE) UTF-8 ALL", "UID SORT (SUBJECT) UTF-8 SUBJECT report",
		"THREAD ORDEREDSUBJECT UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL", "THREAD REFS UTF-8 ALL",
		"THREAD REFERENCES UTF-8 1:700", "UID THREAD REFERENCES UTF-8 SUBJECT password",
	}
	tm := sortAnswers(t, env.addr, testUser, testPass, msgs, cmds)
	dc := sortAnswers(t, addr, "testuser96", "pass", msgs, cmds)
	for _, c := range cmds {
		if tm[c] != dc[c] {
			a, b := strings.Fields(tm[c]), strings.Fields(dc[c])
			i := 0
			for i < len(a) && i < len(b) && a[i] == b[i] {
				i++
			}
			t.Errorf("%s: answers differ from word %d:\n tidemark ...%s\n dovecot  ...%s", c, i,
				strings.Join(a[max(i-3, 0):min(i+8, len(a))], " "), strings.Join(b[max(i-3, 0):min(i+8, len(b))], " "))
		}
	}
}

// sortAnswers fills the mailbox sortcmp with msgs and returns the SORT or
// THREAD line each command gets.
func sortAnswers(t *testing.T, addr, user, pass string, msgs [][]byte, cmds []string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangDeadline)
	defer cancel()
	c, err := loadtest.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Timeout = time.Minute
	if err := c.Login(user, pass); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadtest.Populate(ctx, c, "sortcmp", len(msgs), msgs, 500, true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec("SELECT sortcmp", nil); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, cmd := range cmds {
		if _, err := c.Exec(cmd, func(resp []byte) {
			if s := string(resp); strings.HasPrefix(s, "* SORT") || strings.HasPrefix(s, "* THREAD") {
				out[cmd] = strings.TrimSpace(s)
			}
		}); err != nil {
			t.Fatalf("%s at %s: %v", cmd, addr, err)
		}
	}
	return out
}
