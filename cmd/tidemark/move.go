package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tidemark-mail/tidemark/internal/config"
	"github.com/tidemark-mail/tidemark/internal/shardstore"
)

func init() {
	register("move", "move a user's mail to another PostgreSQL cluster, online", runMove)
}

const moveUsage = `usage: tidemark move --config FILE --user NAME --to SHARD [--grace DURATION]

Moves NAME's mail to the PostgreSQL cluster SHARD ("default" or a name of
[store.shards]) while the front ends keep serving: a copy by the
replication engine, then a pause of the user's writes (they fail with a
temporary error) for a final copy, then the user directory entry in the
default cluster's database is switched, which every front end reads at its
next login or delivery, and after --grace (default 5s) the old copy is
deleted; sessions still on it end and their clients reconnect. Mailbox
ids, UIDVALIDITY, UIDs and modseqs are kept, so clients keep their caches.
The directory entry overrides [store.users] from then on.
`

func runMove(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return moveMain(ctx, args, os.Stdout, os.Stderr)
}

// moveMain runs `tidemark move ARGS` and returns the exit code: 0 moved,
// 1 failed, 2 bad usage.
func moveMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("move", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, moveUsage) }
	configPath := configFlag(fs)
	user := fs.String("user", "", "the user to move")
	to := fs.String("to", "", "the cluster to move the user to")
	grace := fs.Duration("grace", 5*time.Second, "how long the old copy stays, fenced, after the switch")
	verbose := fs.Bool("v", false, "log each step")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 || *configPath == "" || *user == "" || *to == "" || *grace < 0 {
		fmt.Fprint(stderr, moveUsage)
		return 2
	}
	c, err := storeConfig(*configPath)
	sc := c.Store
	if err != nil {
		fmt.Fprintf(stderr, "tidemark move: %v\n", err)
		return 2
	}
	if sc.Kind != config.StorePostgres || len(sc.Shards) == 0 {
		fmt.Fprintln(stderr, "tidemark move: the configuration names one store; moving needs [store] kind = \"postgres\" with [store.shards]")
		return 2
	}
	st, err := openStore(ctx, sc, "", storeOptions{NoTextIndex: !c.Search.TextIndex})
	if err != nil {
		fmt.Fprintf(stderr, "tidemark move: %v\n", err)
		return 1
	}
	defer st.Close()
	shards, ok := st.(*shardstore.Store)
	if !ok {
		fmt.Fprintln(stderr, "tidemark move: the store is not sharded")
		return 2
	}
	opts := shardstore.MoveOptions{Grace: *grace}
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	res, err := shards.Move(ctx, *user, *to, opts)
	if err != nil {
		fmt.Fprintf(stderr, "tidemark move: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "moved %s from %s to %s: %d mailboxes, %d messages copied while served, %d under the pause\n",
		*user, res.From, res.To, res.Mailboxes, res.Copied.Appends, res.Final.Appends)
	return 0
}
