package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/tidemark-mail/tidemark/internal/migrate"
	"github.com/tidemark-mail/tidemark/internal/store"
)

func init() {
	register("migrate", "copy a user's mail from another IMAP server, incrementally", runMigrate)
}

const migrateUsage = `usage: tidemark migrate --data DIR --user NAME --from imap://USER@HOST[:PORT] [--password-file F] [--insecure]

Copies every mailbox of the source account (names, hierarchy, subscriptions,
special use) and every message with its flags, keywords and INTERNALDATE
into NAME's mail (the user must exist: tidemark user add). Run it again to
bring the copy up to date: new messages, flag changes and expunges on the
source are applied, and renamed or deleted mailboxes follow. A mailbox that
is new or empty in the target keeps the source's UIDVALIDITY and UIDs, so
clients keep their caches. Interrupting it is safe: the next run continues.

--from URL            imap://user@host[:port] (STARTTLS when offered; port 143)
                      or imaps://user@host[:port] (implicit TLS; port 993)
--password-file F     the source password, first line of F; else standard
                      input (a prompt on a terminal)
--insecure            accept a self-signed source certificate, and a login
                      in the clear to a source without STARTTLS
`

func runMigrate(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return migrateMain(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}

func migrateMain(ctx context.Context, args []string, stdin *os.File, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, migrateUsage) }
	dataDir := fs.String("data", os.Getenv("TIDEMARK_DATA"), "data directory")
	configPath := configFlag(fs)
	user := fs.String("user", "", "target user")
	from := fs.String("from", "", "source URL")
	passwordFile := fs.String("password-file", "", "file holding the source password")
	insecure := fs.Bool("insecure", false, "accept any source certificate and plain-text login")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *dataDir == "" || *user == "" || *from == "" {
		fs.Usage()
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "tidemark migrate: %v\n", err)
		return 1
	}
	src, err := migrate.ParseSource(*from)
	if err != nil {
		fmt.Fprintf(stderr, "tidemark migrate: %v\n", err)
		return 2
	}
	password, err := readSourcePassword(*passwordFile, stdin, stderr, src)
	if err != nil {
		return fail(err)
	}
	if st, err := os.Stat(*dataDir); err != nil || !st.IsDir() {
		return fail(fmt.Errorf("data directory %s: not found", *dataDir))
	}
	st, err := openConfiguredStore(ctx, *configPath, *dataDir, storeOptions{})
	if err != nil {
		return fail(err)
	}
	defer st.Close()

	progress := newMigrateProgress(stderr)
	stats, err := migrate.Run(ctx, st, *user, src, migrate.Options{
		Password: password,
		Insecure: *insecure,
		Progress: progress.update,
		Warn: func(msg string) {
			progress.clear()
			fmt.Fprintf(stderr, "tidemark migrate: %s\n", msg)
		},
	})
	progress.clear()
	if err == nil || stats.Mailboxes > 0 || stats.Messages > 0 {
		// After an error, what was done before it (and is kept).
		printMigrateSummary(stdout, stats)
	}
	if errors.Is(err, store.ErrNoUser) {
		return fail(fmt.Errorf("%s: no such user (create it first: tidemark user add)", *user))
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fail(errors.New("interrupted; run again to continue where the copy stands"))
		}
		return fail(err)
	}
	return 0
}

func printMigrateSummary(w io.Writer, s migrate.Stats) {
	mode := "UID lists compared: no CONDSTORE"
	switch {
	case s.Qresync:
		mode = "QRESYNC"
	case s.Condstore:
		mode = "CONDSTORE"
	}
	secs := max(s.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(w, "%d mailboxes (%d created, %d renamed, %d deleted; %d newly copied with the source's UIDVALIDITY and UIDs); "+
		"%d messages copied (%s), %d matched by content, %d flag changes, %d expunged; %d METADATA entries; "+
		"%d mailboxes examined, %d UID FETCH commands, %s received, %s sent (%s); %s, %.0f messages/s\n",
		s.Mailboxes, s.Created, s.Renamed, s.Deleted, s.KeptUIDs,
		s.Messages, formatBytes(s.BodyBytes), s.Matched, s.FlagChanges, s.Expunged, s.MetadataEntries,
		s.Examined, s.Fetches, formatBytes(s.WireRead), formatBytes(s.WireWritten), mode,
		s.Elapsed.Round(time.Millisecond), float64(s.Messages)/secs)
}

// formatBytes writes n in B, KB or MB (powers of 1000).
func formatBytes(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f KB", float64(n)/1e3)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// readSourcePassword reads the password from a file, a pipe, or a prompt.
func readSourcePassword(file string, stdin *os.File, stderr io.Writer, src *migrate.Source) (string, error) {
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", err
		}
		defer f.Close()
		return readFirstLine(f, file)
	}
	fd := int(stdin.Fd())
	if !term.IsTerminal(fd) {
		return readFirstLine(stdin, "standard input")
	}
	fmt.Fprintf(stderr, "Password for %s: ", src)
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("reading password: %w", err)
	}
	return string(pw), nil
}

// migrateProgress redraws one line on a terminal, at most every 200 ms.
type migrateProgress struct {
	mu    sync.Mutex
	w     io.Writer
	on    bool
	last  time.Time
	start time.Time
	drawn bool
}

func newMigrateProgress(w io.Writer) *migrateProgress {
	p := &migrateProgress{w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		p.on = term.IsTerminal(int(f.Fd()))
	}
	return p
}

func (p *migrateProgress) update(pr migrate.Progress) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	const width = 30
	filled := width
	if pr.Total > 0 {
		filled = min(width, pr.Done*width/pr.Total)
	}
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = '.'
		if i < filled {
			bar[i] = '#'
		}
	}
	fmt.Fprintf(p.w, "\r\033[K%s [%s] %d/%d, %d copied in all (%s), %s", pr.Mailbox, bar, pr.Done, pr.Total,
		pr.Stats.Messages, formatBytes(pr.Stats.BodyBytes), time.Since(p.start).Round(time.Second))
	p.drawn = true
}

func (p *migrateProgress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}
