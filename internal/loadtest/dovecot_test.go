package loadtest

import (
	"context"
	"fmt"
	"github.com/tidemark-mail/tidemark/internal/corpus"
	"os"
	"strings"
	"testing"
	"time"
)

// TestScenariosAgainstDovecot runs every scenario at a tiny size against a
// reference Dovecot (started by ../shared/refservers/dovecot.sh, as .ci/run
// does) named by TIDEMARK_REF_DOVECOT, e.g. 127.0.0.1:11143. Without it the
// test skips, except under TIDEMARK_CI where it fails.
func TestScenariosAgainstDovecot(t *testing.T) {
	addr := os.Getenv("TIDEMARK_REF_DOVECOT")
	if addr == "" {
		if corpus.Required() {
			t.Fatal("TIDEMARK_CI is set but TIDEMARK_REF_DOVECOT names no reference Dovecot")
		}
		t.Skip("TIDEMARK_REF_DOVECOT not set (start ../shared/refservers/dovecot.sh and name it, e.g. 127.0.0.1:11143)")
	}
	msgs, err := ReadMbox(corpus.Path())
	if err != nil {
		msgs = nil
		for i := range 50 {
			msgs = append(msgs, fmt.Appendf(nil, "Subject: report %d\r\nFrom: a@example.com\r\n\r\nbenchmark body %d\r\n", i, i))
		}
	}
	cfg := Config{
		Addr: addr, User: "testuser99", Pass: "pass",
		Messages:    msgs[:50],
		Reps:        2,
		AppendCount: 20,
		Changes:     20,
		Concurrency: 3,
		Duration:    time.Second,
		Log:         t.Logf,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Every scenario but stress and lmtp. Stress's checker holds a server
	// to Tidemark's rule of one FETCH for every message a plain STORE
	// names, which the reference Dovecot does not always send (its runs
	// report such STOREs as violations); the reference Dovecot has no LMTP
	// listener (TestLMTPScenario runs lmtp against Tidemark).
	var names []string
	for _, n := range ScenarioNames() {
		if n != "stress" && n != "lmtp" {
			names = append(names, n)
		}
	}
	results, err := Run(ctx, cfg, names, []int{50})
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	WriteTable(&table, results)
	t.Logf("\n%s", table.String())

	seen := map[string]Result{}
	for _, r := range results {
		if r.Err != "" {
			t.Errorf("%s: %s", r.Scenario, r.Err)
		}
		seen[r.Scenario] = r
	}
	for _, name := range []string{"populate", "select", "select.again", "fetch-flags", "store", "store.silent",
		"resync.qresync", "resync.condstore", "append.single", "append.multi100",
		"fetch-envelope", "search-text", "search-subject", "fetch-body", "concurrent",
		"sort-date.first", "sort-date", "thread-refs.first", "thread-refs"} {
		r, ok := seen[name]
		if !ok {
			t.Errorf("no result for %s", name)
			continue
		}
		if name == "populate" {
			continue // a reused mailbox has no timing
		}
		if r.Reps == 0 || r.Median <= 0 || r.P90 < r.Median || r.Bytes <= 0 {
			t.Errorf("%s: implausible result %+v", name, r)
		}
	}
	// The FETCH of 50 messages' flags has one response per message.
	if r := seen["fetch-flags"]; r.Bytes < int64(50*len("* 1 FETCH (UID 1 FLAGS ())\r\n")) {
		t.Errorf("fetch-flags received only %d bytes for 50 messages", r.Bytes)
	}
	// The silent STORE sends no FETCH responses, the plain one does.
	if s, p := seen["store.silent"], seen["store"]; s.Bytes >= p.Bytes {
		t.Errorf("STORE .SILENT received %d bytes, plain STORE %d", s.Bytes, p.Bytes)
	}
	if r := seen["fetch-body"]; r.Bytes < int64(len(strings.Join(toStrings(cfg.Messages), ""))) {
		t.Errorf("BODY[] fetch received %d bytes, less than the messages themselves", r.Bytes)
	}
}

func toStrings(b [][]byte) []string {
	s := make([]string, len(b))
	for i := range b {
		s[i] = string(b[i])
	}
	return s
}
