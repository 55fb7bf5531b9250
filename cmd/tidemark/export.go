package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tidemark-mail/tidemark/internal/mailimport"
)

func init() {
	register("export", "export a user's mail as Maildir or mbox", runExport)
}

const exportUsage = `usage: tidemark export --data DIR --user NAME (--maildir PATH | --mbox PATH) [--mailbox M]

--maildir PATH   writes Maildir++: INBOX at PATH, other mailboxes as .Name.Sub
                 folders; flags in file names, keywords in dovecot-keywords,
                 file times = INTERNALDATE.
--mbox PATH      writes mboxrd: a directory with one NAME.mbox file per
                 mailbox (Archive/2023 → PATH/Archive/2023.mbox); with
                 --mailbox, PATH is that one mailbox's file.
PATH must not exist or be an empty directory.
`

func runExport(args []string) int {
	return exportMain(context.Background(), args, os.Stdout, os.Stderr)
}

func exportMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a, ok := parseTransferArgs("export", exportUsage, args, stderr, false)
	if !ok {
		return 2
	}
	st, acct, err := openAccount(ctx, a, storeOptions{})
	if err != nil {
		fmt.Fprintf(stderr, "tidemark export: %v\n", err)
		return 1
	}
	defer st.Close()
	defer acct.Close()

	progress := newProgressLine(stderr)
	opts := mailimport.ExportOptions{
		Mailbox:  a.mailbox,
		Progress: func(s mailimport.Stats) { progress.update("exported", s) },
		Warn: func(msg string) {
			progress.clear()
			fmt.Fprintf(stderr, "tidemark export: %s\n", msg)
		},
	}
	start := time.Now()
	var stats mailimport.Stats
	if a.maildir != "" {
		stats, err = mailimport.ExportMaildir(ctx, acct, a.maildir, opts)
	} else {
		stats, err = mailimport.ExportMbox(ctx, acct, a.mbox, opts)
	}
	progress.clear()
	fmt.Fprintf(stdout, "exported %d messages (%.1f MB) from %d mailboxes in %s\n",
		stats.Imported, float64(stats.Bytes)/1e6, stats.Mailboxes, time.Since(start).Round(time.Millisecond))
	if err != nil {
		fmt.Fprintf(stderr, "tidemark export: %v\n", err)
		return 1
	}
	return 0
}
