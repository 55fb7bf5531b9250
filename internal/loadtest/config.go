package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Config says which server and account to measure and how much.
type Config struct {
	Addr     string   // loopback "host:port"
	User     string   // account to log in as
	Pass     string   // its password
	Messages [][]byte // corpus cycled through by every APPEND (see SplitMbox)

	Reps          int           // timed repetitions per operation (default 5)
	PopulateBatch int           // messages per MULTIAPPEND while populating (default 500)
	AppendCount   int           // messages per repetition of the append scenario (default 1000)
	Changes       int           // changes made between resyncs (default 100)
	Concurrency   int           // connections of the concurrent scenario (default 16)
	Duration      time.Duration // length of the concurrent scenario (default 10s)
	SearchText    string        // word for SEARCH TEXT (default "benchmark")
	SearchSubject string        // word for SEARCH SUBJECT (default "report")
	FreshPopulate bool          // populate deletes an existing bench-N first
	// Distinct makes the scenarios fill and use distinct-N instead of
	// bench-N, each message a copy of the corpus made unique
	// (DistinctCopy), so that no two bodies are equal: for measuring the
	// bytes a store takes, which the cycled corpus's duplicates distort.
	Distinct       bool
	CommandTimeout time.Duration // bound on any one command (default 10m)
	Seed           uint64        // seed of the stress scenario's random choices
	// LMTPAddr and LMTPRecipients are where the lmtp scenario delivers,
	// and to whom, in turn.
	LMTPAddr       string
	LMTPRecipients []string
	// StressOut receives the stress scenario's violations and errors, each
	// with the protocol lines around it; nil discards them.
	StressOut io.Writer

	// Log, when set, receives progress lines (populating, reusing, ...).
	Log func(format string, args ...any)
}

func (cfg *Config) withDefaults() Config {
	c := *cfg
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Reps, 5)
	def(&c.PopulateBatch, 500)
	def(&c.AppendCount, 1000)
	def(&c.Changes, 100)
	def(&c.Concurrency, 16)
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = 10 * time.Minute
	}
	if c.SearchText == "" {
		c.SearchText = "benchmark"
	}
	if c.SearchSubject == "" {
		c.SearchSubject = "report"
	}
	if c.Log == nil {
		c.Log = func(string, ...any) {}
	}
	return c
}

// connect dials and logs in.
func (cfg *Config) connect(ctx context.Context) (*Client, error) {
	c, err := Dial(ctx, cfg.Addr)
	if err != nil {
		return nil, err
	}
	c.Timeout = cfg.CommandTimeout
	if err := c.Login(cfg.User, cfg.Pass); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Scenario is one named measurement. Sized scenarios run once per mailbox
// size; the others ignore the size and run once.
type Scenario struct {
	Name  string
	Sized bool
	Doc   string
	Run   func(ctx context.Context, cfg Config, size int) ([]Result, error)
}

// Scenarios lists every scenario in the order Run performs them.
var Scenarios = []Scenario{
	{"populate", true, "create bench-N with N messages by MULTIAPPEND (reused when it already holds N)", runPopulate},
	{"select", true, "SELECT bench-N, to the tagged OK", runSelect},
	{"fetch-flags", true, "FETCH 1:* (UID FLAGS)", runFetchFlags},
	{"store", true, "STORE 1:* +FLAGS/-FLAGS (\\Flagged), alternating, plain and .SILENT", runStore},
	{"fetch-recent", true, "FETCH of the last 200 messages' BODYSTRUCTURE, ENVELOPE, and the last 50 BODY.PEEK[], BINARY.PEEK[] and BINARY.PEEK[1]", runFetchRecent},
	{"smallwrites", true, "125 small writes pipelined (50 UID STORE, 25 UID EXPUNGE, 25 APPEND) with another session in IDLE", runSmallWrites},
	{"resync", true, "after 100 changes from another session: QRESYNC SELECT vs CONDSTORE SELECT + CHANGEDSINCE + UID SEARCH", runResync},
	{"sort", true, "SORT (DATE) and THREAD REFERENCES of all of bench-N: the first request, then again unchanged", runSort},
	{"search", true, "UID SEARCH RETURN (COUNT) BODY, TEXT (a word in no message, one in many), FROM, SUBJECT", runSearch},
	{"append", false, "APPEND throughput: one message per command vs MULTIAPPEND batches of 100", runAppend},
	{"content", false, "on the corpus: FETCH ENVELOPE BODYSTRUCTURE, SEARCH TEXT, SEARCH SUBJECT, FETCH BODY.PEEK[]", runContent},
	{"writers", false, "K sessions each toggling a flag on its own message, one STORE at a time, for T seconds: durable writes/s", runWriters},
	{"lmtp", false, "K LMTP clients delivering ~3 KB messages to the --lmtp-rcpt recipients in turn for T seconds: deliveries/s", runLMTP},
	{"concurrent", false, "K sessions looping SELECT + FETCH 1:* (UID FLAGS) + NOOP for T seconds", runConcurrent},
	{"stress", false, "K sessions on one mailbox for T seconds, a random mix of commands, every response checked", runStress},
}

// ScenarioNames returns the names of all scenarios.
func ScenarioNames() []string {
	names := make([]string, len(Scenarios))
	for i, s := range Scenarios {
		names[i] = s.Name
	}
	return names
}

// Run performs the named scenarios (all when names is empty) at each size,
// in the order of Scenarios. A scenario that fails is reported as a Result
// with Err set and the others still run; the returned error is only for a
// bad request (unknown scenario, no corpus, a non-loopback address) or a
// cancelled context.
func Run(ctx context.Context, cfg Config, names []string, sizes []int) ([]Result, error) {
	cfg = cfg.withDefaults()
	if len(cfg.Messages) == 0 {
		return nil, errors.New("loadtest: no messages to append (empty corpus)")
	}
	if _, err := CheckLoopback(ctx, cfg.Addr); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range names {
		found := false
		for _, s := range Scenarios {
			found = found || s.Name == n
		}
		if !found {
			return nil, fmt.Errorf("loadtest: unknown scenario %q (have %v)", n, ScenarioNames())
		}
		want[n] = true
	}
	var out []Result
	for _, s := range Scenarios {
		if len(want) > 0 && !want[s.Name] {
			continue
		}
		runSizes := sizes
		if !s.Sized {
			runSizes = []int{0}
		}
		for _, size := range runSizes {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			cfg.Log("%s %d ...", s.Name, size)
			rs, err := s.Run(ctx, cfg, size)
			out = append(out, rs...)
			if err != nil {
				out = append(out, Result{Scenario: s.Name, Size: size, Err: err.Error()})
			}
		}
	}
	return out, nil
}

// benchMailbox names the mailbox holding n messages for sized scenarios.
func benchMailbox(n int) string { return fmt.Sprintf("bench-%d", n) }
