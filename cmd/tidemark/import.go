package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/tidemark-mail/tidemark/internal/mailimport"
	"github.com/tidemark-mail/tidemark/internal/store"
)

func init() {
	register("import", "import a Maildir or mbox into a user's mail", runImport)
}

const importUsage = `usage: tidemark import --data DIR --user NAME (--maildir PATH | --mbox PATH) [--mailbox M] [--variant mboxrd|mboxo]

--maildir PATH   a Maildir++ directory: its messages go to INBOX (or M), its
                 folders (.Sent, .Archive.2023) to Sent, Archive/2023 (below M
                 when given). Flags come from file names and dovecot-keywords.
--mbox PATH      an mbox file, imported into M (default INBOX), or a directory
                 of NAME.mbox files as 'tidemark export --mbox' writes them.
Messages already in the target mailbox (same bytes) are skipped, so running
the same import again adds nothing. A Maildir folder with a dovecot-uidlist
imported into a new or empty mailbox keeps its UIDVALIDITY and UIDs, so
clients of the old server keep their caches. Exit status 0 when every message was
imported or skipped, 1 on error or when some messages were refused.
`

// transferArgs are the flags import and export share.
type transferArgs struct {
	dataDir, config, user, maildir, mbox, mailbox, variant string
}

func parseTransferArgs(name, usage string, args []string, stderr io.Writer, withVariant bool) (transferArgs, bool) {
	var a transferArgs
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	fs.StringVar(&a.dataDir, "data", os.Getenv("TIDEMARK_DATA"), "data directory")
	fs.StringVar(&a.config, "config", os.Getenv("TIDEMARK_CONFIG"), "configuration `FILE` whose [store] section names the mail store")
	fs.StringVar(&a.user, "user", "", "user")
	fs.StringVar(&a.maildir, "maildir", "", "Maildir++ directory")
	fs.StringVar(&a.mbox, "mbox", "", "mbox file or directory")
	fs.StringVar(&a.mailbox, "mailbox", "", "mailbox")
	if withVariant {
		fs.StringVar(&a.variant, "variant", "mboxrd", "mbox quoting: mboxrd or mboxo")
	}
	if err := fs.Parse(args); err != nil {
		return a, false
	}
	if fs.NArg() > 0 || a.dataDir == "" || a.user == "" || (a.maildir == "") == (a.mbox == "") {
		fs.Usage()
		return a, false
	}
	return a, true
}

// openAccount opens the user's mail in an existing data directory.
func openAccount(ctx context.Context, a transferArgs, o storeOptions) (store.Store, store.Account, error) {
	dataDir, user := a.dataDir, a.user
	if st, err := os.Stat(dataDir); err != nil || !st.IsDir() {
		return nil, nil, fmt.Errorf("data directory %s: not found", dataDir)
	}
	st, err := openConfiguredStore(ctx, a.config, dataDir, o)
	if err != nil {
		return nil, nil, err
	}
	acct, err := st.Open(ctx, user)
	if err != nil {
		st.Close()
		if errors.Is(err, store.ErrNoUser) {
			return nil, nil, fmt.Errorf("%s: no such user", user)
		}
		return nil, nil, err
	}
	return st, acct, nil
}

// progressLine redraws one status line on a terminal, at most every 200 ms.
type progressLine struct {
	mu    sync.Mutex
	w     io.Writer
	on    bool
	last  time.Time
	start time.Time
	drawn bool
}

func newProgressLine(w io.Writer) *progressLine {
	p := &progressLine{w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		p.on = term.IsTerminal(int(f.Fd()))
	}
	return p
}

func (p *progressLine) update(verb string, s mailimport.Stats) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "\r%s %d messages (%.1f MB), %d skipped, %d failed, %s ", verb, s.Imported, float64(s.Bytes)/1e6, s.Skipped, s.Failed, time.Since(p.start).Round(time.Second))
	p.drawn = true
}

func (p *progressLine) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func runImport(args []string) int {
	return importMain(context.Background(), args, os.Stdout, os.Stderr)
}

func importMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a, ok := parseTransferArgs("import", importUsage, args, stderr, true)
	if !ok {
		return 2
	}
	variant, err := mailimport.ParseMboxVariant(a.variant)
	if err != nil {
		fmt.Fprintf(stderr, "tidemark import: %v\n", err)
		return 2
	}
	// The text index is written behind the appends, in larger batches
	// than theirs, and waited for before exit (below).
	st, acct, err := openAccount(ctx, a, storeOptions{TextIndexBehind: true})
	if err != nil {
		fmt.Fprintf(stderr, "tidemark import: %v\n", err)
		return 1
	}
	defer st.Close()
	defer acct.Close()
	replica, err := st.OpenReplica(ctx, a.user)
	if err != nil {
		fmt.Fprintf(stderr, "tidemark import: %v\n", err)
		return 1
	}
	defer replica.Close()

	progress := newProgressLine(stderr)
	opts := mailimport.Options{
		Replica:  replica,
		Mailbox:  a.mailbox,
		Variant:  variant,
		Progress: func(s mailimport.Stats) { progress.update("imported", s) },
		Warn: func(msg string) {
			progress.clear()
			fmt.Fprintf(stderr, "tidemark import: %s\n", msg)
		},
	}
	start := time.Now()
	var stats mailimport.Stats
	if a.maildir != "" {
		stats, err = mailimport.ImportMaildir(ctx, acct, a.maildir, opts)
	} else {
		stats, err = mailimport.ImportMbox(ctx, acct, a.mbox, opts)
	}
	progress.clear()
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "imported %d messages (%.1f MB) into %d mailboxes, skipped %d duplicates, failed %d, in %s (%.0f messages/s)\n",
		stats.Imported, float64(stats.Bytes)/1e6, stats.Mailboxes, stats.Skipped, stats.Failed, elapsed.Round(time.Millisecond),
		float64(stats.Imported+stats.Skipped)/max(elapsed.Seconds(), 1e-9))
	// Imported messages are found by SEARCH already (it scans what the
	// index lacks); the index is completed here so that the next process
	// to open the store does not inherit the backlog.
	if w, ok := acct.(interface{ WaitTextIndexed(context.Context) error }); ok && err == nil {
		if werr := w.WaitTextIndexed(ctx); werr != nil {
			fmt.Fprintf(stderr, "tidemark import: text index: %v (SEARCH scans what is not indexed; the server indexes it)\n", werr)
		} else {
			fmt.Fprintf(stdout, "text index complete after %s\n", time.Since(start).Round(time.Millisecond))
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "tidemark import: %v (messages imported before this point are kept)\n", err)
		return 1
	}
	if stats.Failed > 0 {
		return 1
	}
	return 0
}
