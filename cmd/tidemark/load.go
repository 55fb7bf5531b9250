package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/tidemark-mail/tidemark/internal/corpus"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/tidemark-mail/tidemark/internal/loadtest"
)

func init() {
	register("load", "measure an IMAP server", runLoad)
}

// runLoad measures an IMAP server on this machine (Tidemark or a reference
// server) with the scenarios of package loadtest and prints a table.
func runLoad(args []string) int {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:1143", "IMAP server to measure (loopback only)")
	user := fs.String("user", "", "account to log in as")
	pass := fs.String("pass", "", "its password")
	scenarios := fs.String("scenario", "all", "comma list of scenarios, or all: "+strings.Join(loadtest.ScenarioNames(), ","))
	sizes := fs.String("sizes", "10000,100000", "comma list of mailbox sizes for the sized scenarios")
	reps := fs.Int("reps", 5, "timed repetitions per operation")
	mbox := fs.String("mbox", corpus.Path(), "mbox file whose messages are appended")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	concurrency := fs.Int("concurrency", 16, "sessions of the concurrent and stress scenarios")
	duration := fs.Duration("duration", 10*time.Second, "length of the concurrent and stress scenarios")
	seed := fs.Uint64("seed", 1, "seed of the stress scenario's random choices")
	appendCount := fs.Int("append-count", 1000, "messages per repetition of the append scenario")
	fresh := fs.Bool("fresh", false, "populate deletes and refills bench-N even when it already holds N")
	populateBatch := fs.Int("populate-batch", 500, "messages per MULTIAPPEND of the populate scenario")
	distinct := fs.Bool("distinct", false, "the scenarios fill and use distinct-N instead of bench-N, each message a copy of the corpus made unique by a header and a line (for measuring bytes on disk, and reads of them)")
	timeout := fs.Duration("timeout", 60*time.Minute, "bound on the whole run")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	lmtpAddr := fs.String("lmtp-addr", "", "LMTP server of the lmtp scenario (loopback only)")
	lmtpRcpt := fs.String("lmtp-rcpt", "", "recipient of the lmtp scenario; a %d in it is replaced by 1 to --lmtp-users, each in turn")
	lmtpUsers := fs.Int("lmtp-users", 1, "how many recipients --lmtp-rcpt names with %d")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: tidemark load --user U --pass P [flags]\n\nscenarios:")
		for _, s := range loadtest.Scenarios {
			fmt.Fprintf(os.Stderr, "  %-11s %s\n", s.Name, s.Doc)
		}
		fmt.Fprintln(os.Stderr, "\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *user == "" {
		fmt.Fprintln(os.Stderr, "tidemark load: --user is required")
		return 2
	}
	sizeList, err := parseSizes(*sizes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tidemark load:", err)
		return 2
	}
	var names []string
	if *scenarios != "all" && *scenarios != "" {
		for _, n := range strings.Split(*scenarios, ",") {
			names = append(names, strings.TrimSpace(n))
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	if _, err := loadtest.CheckLoopback(ctx, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "tidemark load:", err)
		return 2
	}
	msgs, err := loadtest.ReadMbox(*mbox)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tidemark load:", err)
		return 1
	}
	cfg := loadtest.Config{
		Addr: *addr, User: *user, Pass: *pass, Messages: msgs,
		Reps: *reps, Concurrency: *concurrency, Duration: *duration,
		AppendCount: *appendCount, FreshPopulate: *fresh, Distinct: *distinct,
		PopulateBatch: *populateBatch,
		Seed:          *seed, StressOut: os.Stderr,
		LMTPAddr: *lmtpAddr, LMTPRecipients: lmtpRecipients(*lmtpRcpt, *lmtpUsers),
	}
	if !*quiet {
		cfg.Log = func(format string, a ...any) {
			fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
		}
	}
	results, err := loadtest.Run(ctx, cfg, names, sizeList)
	if *asJSON {
		loadtest.WriteJSON(os.Stdout, results)
	} else {
		loadtest.WriteTable(os.Stdout, results)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tidemark load:", err)
		return 1
	}
	for _, r := range results {
		if r.Err != "" {
			return 1
		}
	}
	return 0
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(strings.ReplaceAll(f, "_", ""))
		if err != nil || n <= 0 || n > 10_000_000 {
			return nil, fmt.Errorf("bad size %q (want a count from 1 to 10000000)", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no sizes given")
	}
	return out, nil
}

// lmtpRecipients expands --lmtp-rcpt: pattern itself without a %d, else
// pattern with 1 to n in turn.
func lmtpRecipients(pattern string, n int) []string {
	if pattern == "" {
		return nil
	}
	if !strings.Contains(pattern, "%d") {
		return []string{pattern}
	}
	var out []string
	for i := 1; i <= max(n, 1); i++ {
		out = append(out, strings.ReplaceAll(pattern, "%d", strconv.Itoa(i)))
	}
	return out
}
