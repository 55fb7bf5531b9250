package loadtest

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestWriteScenariosTidemark runs the fetch-recent, smallwrites and
// writers scenarios
// against a real server: every pipelined command must complete OK (the
// scenario fails otherwise), the mailbox must keep its size, and the
// writers must all have written.
func TestWriteScenariosTidemark(t *testing.T) {
	addr := startTidemark(t)
	var corpus [][]byte
	for i := range 40 {
		corpus = append(corpus, []byte(fmt.Sprintf("From: a@example.org\r\nSubject: m%d\r\n\r\nbody %d\r\n", i, i)))
	}
	cfg := Config{Addr: addr, User: "stress", Pass: "stress-pass", Messages: corpus, Reps: 3,
		Concurrency: 4, Duration: 300 * time.Millisecond, Seed: 1}
	ctx := context.Background()
	rs, err := Run(ctx, cfg, []string{"fetch-recent", "smallwrites", "writers"}, []int{200})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Result{}
	for _, r := range rs {
		if r.Err != "" {
			t.Fatalf("%s: %s", r.Scenario, r.Err)
		}
		got[r.Scenario] = r
	}
	if r := got["smallwrites"]; r.Reps != 3 || r.Median <= 0 {
		t.Fatalf("smallwrites: %+v", r)
	}
	for _, name := range []string{"fetch-recent.bodystructure", "fetch-recent.envelope", "fetch-recent.body", "fetch-recent.binary", "fetch-recent.binary1"} {
		if r := got[name]; r.Reps != 3 || r.Bytes == 0 {
			t.Fatalf("%s: %+v", name, r)
		}
	}
	if r := got["writers"]; r.Reps < 4 || r.Rate <= 0 {
		t.Fatalf("writers: %+v", r)
	}
	full := cfg.withDefaults()
	c, err := full.connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	si, _, err := selectMailbox(c, benchMailbox(200), "")
	if err != nil {
		t.Fatal(err)
	}
	if si.Exists != 200 {
		t.Fatalf("bench-200 holds %d messages after the small writes, want 200", si.Exists)
	}
}
