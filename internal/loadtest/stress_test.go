package loadtest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/server"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
)

// startTidemark runs a Tidemark server on loopback over a fresh store
// whose bodies of expunged messages are reclaimed every millisecond (so
// that a reader racing an expunge would see the body go) and returns its
// address.
func startTidemark(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlitestore.Open(dir, sqlitestore.Options{ReclaimEvery: time.Millisecond, ReclaimMinAge: -1})
	if err != nil {
		t.Fatal(err)
	}
	accts, err := auth.OpenAccountsWith(dir, auth.Options{
		Hash:         auth.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		FailureDelay: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := accts.Add("stress", "stress-pass"); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(context.Background(), "stress"); err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{Store: st, Auth: accts, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
		accts.Close()
		st.Close()
	})
	return l.Addr().String()
}

// stressParams returns the seed and length of the stress test: by default
// seed 1 and a fixed number of operations per session (the same work on
// any machine); TIDEMARK_STRESS_SEED chooses the seed and
// TIDEMARK_STRESS_DURATION (a Go duration) runs for that long instead.
func stressParams(t *testing.T) (seed uint64, dur time.Duration, ops int) {
	seed, ops = 1, 150
	if s := os.Getenv("TIDEMARK_STRESS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TIDEMARK_STRESS_SEED: %v", err)
		}
		seed = n
	}
	if s := os.Getenv("TIDEMARK_STRESS_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("TIDEMARK_STRESS_DURATION: %v", err)
		}
		dur, ops = d, 0
	}
	t.Logf("stress seed %d (TIDEMARK_STRESS_SEED), %d operations per session or duration %s (TIDEMARK_STRESS_DURATION)", seed, ops, dur)
	return seed, dur, ops
}

// TestStressTidemark: several clients on one mailbox of a real Tidemark
// server, every response checked, find no violation and no error; and
// every kind of command really ran.
func TestStressTidemark(t *testing.T) {
	addr := startTidemark(t)
	seed, dur, ops := stressParams(t)
	var out bytes.Buffer
	cfg := Config{Addr: addr, User: "stress", Pass: "stress-pass", Messages: [][]byte{[]byte("unused")}}
	rep, err := Stress(context.Background(), cfg, StressOptions{Clients: 6, Duration: dur, Ops: ops, Seed: seed, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d commands in %s (%.0f/s): %v", rep.Commands, rep.Elapsed.Round(time.Millisecond), rep.Rate(), rep.ByCommand)
	if rep.Violations != 0 || rep.Errors != 0 {
		t.Fatalf("%d violations, %d errors:\n%s", rep.Violations, rep.Errors, out.String())
	}
	for _, w := range stressWeights {
		kind := w.name
		switch kind {
		case "store-unchangedsince":
			kind = "store"
		case "reselect":
			kind = "select-qresync"
		}
		if rep.ByCommand[kind] == 0 {
			t.Errorf("no %s command completed: %v", kind, rep.ByCommand)
		}
	}
}

// feed runs one command's responses through a model: begin, untagged
// lines, then the tagged OK's response code.
func feed(m *model, noExpunge bool, tagged string, lines ...string) {
	m.begin(noExpunge)
	for _, l := range lines {
		m.untagged([]byte(l + "\r\n"))
	}
	m.onCode(respCode(tagged))
}

// selected returns a QRESYNC model that selected a mailbox of UIDs 1:3
// (MODSEQs 5, 6, 7) at HIGHESTMODSEQ 7.
func selected(t *testing.T, qresync bool) *model {
	m := newModel(qresync)
	m.begin(false)
	m.startSelect()
	for _, l := range []string{"* 3 EXISTS", "* OK [UIDVALIDITY 9] ok", "* OK [UIDNEXT 4] ok", "* OK [HIGHESTMODSEQ 7] ok"} {
		m.untagged([]byte(l + "\r\n"))
	}
	m.finishSelect()
	feed(m, true, "",
		`* 1 FETCH (UID 1 FLAGS () MODSEQ (5))`,
		`* 2 FETCH (UID 2 FLAGS (\Seen) MODSEQ (6))`,
		`* 3 FETCH (UID 3 FLAGS ($k1) MODSEQ (7))`)
	if v := m.take(); len(v) != 0 {
		t.Fatalf("a correct selection reported %q", v)
	}
	return m
}

// TestModelAcceptsCorrectResponses: a correct history raises nothing.
func TestModelAcceptsCorrectResponses(t *testing.T) {
	m := selected(t, true)
	feed(m, false, "", `* 4 EXISTS`, `* 2 FETCH (UID 2 FLAGS (\Seen \Flagged) MODSEQ (8))`)
	feed(m, true, "", `* 4 FETCH (UID 5 FLAGS () MODSEQ (9))`)
	feed(m, false, "[HIGHESTMODSEQ 10] done", `* VANISHED 1,5`)
	if v := m.take(); len(v) != 0 {
		t.Fatalf("reported %q", v)
	}
	if got := formatUIDs(m.uids); got != "2:3" {
		t.Fatalf("UIDs %s, want 2:3", got)
	}
	// QRESYNC from the cache: UID 3 changed, 2 vanished, 6 arrived.
	c := m.snapshot()
	m.begin(false)
	m.startSelect()
	for _, l := range []string{"* 2 EXISTS", "* OK [UIDVALIDITY 9] ok", "* OK [UIDNEXT 7] ok", "* OK [HIGHESTMODSEQ 12] ok",
		"* VANISHED (EARLIER) 1:2,4:5", `* 1 FETCH (UID 3 FLAGS () MODSEQ (11))`, `* 2 FETCH (UID 6 FLAGS () MODSEQ (12))`} {
		m.untagged([]byte(l + "\r\n"))
	}
	m.finishQResync(c)
	if v := m.take(); len(v) != 0 {
		t.Fatalf("correct QRESYNC reported %q", v)
	}
	if got := formatUIDs(m.uids); got != "3,6" {
		t.Fatalf("UIDs after QRESYNC %s, want 3,6", got)
	}
	// A message that arrived since, not in known-uids, is only counted.
	c = m.snapshot()
	m.begin(false)
	m.startSelect()
	for _, l := range []string{"* 3 EXISTS", "* OK [HIGHESTMODSEQ 13] ok"} {
		m.untagged([]byte(l + "\r\n"))
	}
	m.finishQResync(c)
	feed(m, false, "", `* 3 FETCH (UID 7 FLAGS () MODSEQ (13))`)
	if v := m.take(); len(v) != 0 {
		t.Fatalf("QRESYNC with an arrival reported %q", v)
	}
	if got := formatUIDs(m.uids); got != "3,6:7" {
		t.Fatalf("UIDs after QRESYNC %s, want 3,6:7", got)
	}
}

// TestModelCatchesWrongResponses: each deliberately wrong response is
// reported.
func TestModelCatchesWrongResponses(t *testing.T) {
	cases := []struct {
		name    string
		qresync bool
		run     func(m *model)
		want    string
	}{
		{"EXISTS shrinks", true, func(m *model) { feed(m, false, "", "* 2 EXISTS") }, "shrinks"},
		{"EXPUNGE during FETCH", false, func(m *model) { feed(m, true, "", "* 2 EXPUNGE") }, "RFC 9051 7.4.1"},
		{"EXPUNGE to QRESYNC", true, func(m *model) { feed(m, false, "", "* 2 EXPUNGE") }, "VANISHED"},
		{"EXPUNGE beyond", false, func(m *model) { feed(m, false, "", "* 4 EXPUNGE") }, "outside"},
		{"VANISHED during SEARCH", true, func(m *model) { feed(m, true, "", "* VANISHED 2") }, "RFC 9051 7.4.1"},
		{"VANISHED unknown", true, func(m *model) { feed(m, false, "", "* VANISHED 9") }, "not a message this client was shown"},
		{"UID changes", true, func(m *model) { feed(m, false, "", `* 2 FETCH (UID 3 FLAGS () MODSEQ (9))`) }, "it is UID 2"},
		{"UID reused", true, func(m *model) {
			feed(m, false, "", "* VANISHED 3", "* 3 EXISTS")
			feed(m, true, "", `* 3 FETCH (UID 3 FLAGS () MODSEQ (9))`)
		}, "announced as expunged"},
		{"UID order", true, func(m *model) {
			feed(m, false, "", "* 4 EXISTS")
			feed(m, true, "", `* 4 FETCH (UID 2 FLAGS () MODSEQ (9))`)
		}, "UID order"},
		{"MODSEQ back", true, func(m *model) { feed(m, false, "", `* 1 FETCH (UID 1 FLAGS () MODSEQ (4))`) }, "went back"},
		{"same MODSEQ other flags", true, func(m *model) { feed(m, false, "", `* 1 FETCH (UID 1 FLAGS (\Seen) MODSEQ (5))`) }, "still"},
		{"HIGHESTMODSEQ back", true, func(m *model) { feed(m, false, "", "* OK [HIGHESTMODSEQ 6] x") }, "HIGHESTMODSEQ went back"},
		{"UIDVALIDITY changes", true, func(m *model) { feed(m, false, "", "* OK [UIDVALIDITY 10] x") }, "UIDVALIDITY changed"},
		{"FETCH beyond", true, func(m *model) { feed(m, false, "", `* 9 FETCH (UID 9 FLAGS () MODSEQ (9))`) }, "beyond"},
		{"bad FETCH", true, func(m *model) { feed(m, false, "", `* 1 FETCH (UID 1 FLAGS (`) }, "unparsable"},
		{"SELECT low HIGHESTMODSEQ", false, func(m *model) {
			m.begin(false)
			m.startSelect()
			for _, l := range []string{"* 3 EXISTS", "* OK [UIDNEXT 4] ok", "* OK [HIGHESTMODSEQ 6] ok"} {
				m.untagged([]byte(l + "\r\n"))
			}
			m.finishSelect()
		}, "below MODSEQ"},
		{"SELECT low UIDNEXT", false, func(m *model) {
			m.begin(false)
			m.startSelect()
			for _, l := range []string{"* 3 EXISTS", "* OK [UIDNEXT 3] ok", "* OK [HIGHESTMODSEQ 7] ok"} {
				m.untagged([]byte(l + "\r\n"))
			}
			m.finishSelect()
		}, "UIDNEXT 3 is not above"},
		{"QRESYNC count", true, func(m *model) {
			c := m.snapshot()
			m.begin(false)
			m.startSelect()
			for _, l := range []string{"* 1 EXISTS", "* OK [HIGHESTMODSEQ 9] ok", "* VANISHED (EARLIER) 2"} {
				m.untagged([]byte(l + "\r\n"))
			}
			m.finishQResync(c)
		}, "EXISTS says 1"},
		{"QRESYNC omits a change", true, func(m *model) {
			feed(m, false, "", `* 1 FETCH (UID 1 FLAGS ($k2) MODSEQ (8))`) // seen above HIGHESTMODSEQ 7
			c := m.snapshot()
			m.begin(false)
			m.startSelect()
			for _, l := range []string{"* 3 EXISTS", "* OK [HIGHESTMODSEQ 9] ok"} {
				m.untagged([]byte(l + "\r\n"))
			}
			m.finishQResync(c)
			feed(m, false, "", `* 1 FETCH (UID 1 FLAGS ($k2) MODSEQ (8))`) // not changed since
			m.leaving()
		}, "omitted UID 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := selected(t, tc.qresync)
			tc.run(m)
			v := m.take()
			if !strings.Contains(strings.Join(v, "\n"), tc.want) {
				t.Fatalf("violations %q, want one saying %q", v, tc.want)
			}
		})
	}
}

// TestCheckStressBody: a message rebuilds from its subject; one changed
// byte is caught.
func TestCheckStressBody(t *testing.T) {
	msg := stressMessage(3, 17, 5000)
	if err := checkStressBody(msg); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(msg)
	bad[len(bad)-5] ^= 1
	if err := checkStressBody(bad); err == nil {
		t.Fatal("a changed byte went unnoticed")
	}
	if err := checkStressBody(stressMessage(3, 18, 5000)[:4000]); err == nil {
		t.Fatal("a cut message went unnoticed")
	}
}

// TestModelOmittedChange: a QRESYNC SELECT may leave a known-changed
// message to the first sync point when it changed again after the
// SELECT's HIGHESTMODSEQ, or was expunged; both are accepted.
func TestModelOmittedChange(t *testing.T) {
	for name, later := range map[string]string{
		"changed again": `* 1 FETCH (UID 1 FLAGS () MODSEQ (10))`,
		"expunged":      `* VANISHED 1`,
	} {
		t.Run(name, func(t *testing.T) {
			m := selected(t, true)
			feed(m, false, "", `* 1 FETCH (UID 1 FLAGS ($k2) MODSEQ (8))`)
			c := m.snapshot()
			m.begin(false)
			m.startSelect()
			for _, l := range []string{"* 3 EXISTS", "* OK [HIGHESTMODSEQ 9] ok"} {
				m.untagged([]byte(l + "\r\n"))
			}
			m.finishQResync(c)
			feed(m, false, "", later)
			m.leaving()
			if v := m.take(); len(v) != 0 {
				t.Fatalf("reported %q", v)
			}
		})
	}
}
