package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	authdb "github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/config"
	"github.com/tidemark-mail/tidemark/internal/quota"
	"github.com/tidemark-mail/tidemark/internal/replica"
	"github.com/tidemark-mail/tidemark/internal/tlscert"
)

func init() {
	register("sync", "replicate users with a peer server once, in both directions", runSync)
}

// runSync is `tidemark sync --data DIR --peer ADDR [--user NAME]`: one
// two-way sync of every user (or one) between the store in DIR and the
// peer's replication listener, authenticated as [replication] in the
// configuration file says (or with --secret-file).
func runSync(args []string) int {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	configFile := fs.String("config", "", "configuration file (TOML): [replication] and [tls] for authentication")
	data := fs.String("data", "", "data directory of the local store (default: the configuration's data_dir)")
	peer := fs.String("peer", "", "the peer's replication address, host:port")
	user := fs.String("user", "", "sync only this user")
	secretFile := fs.String("secret-file", "", "shared secret file (overrides the configuration)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 || *peer == "" {
		fmt.Fprintln(os.Stderr, "usage: tidemark sync [--config FILE] [--data DIR] --peer HOST:PORT [--user NAME] [--secret-file FILE]")
		return 2
	}
	cfg := config.Default()
	if *configFile != "" {
		c, err := config.Load(*configFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tidemark sync: %s:\n%v\n", *configFile, err)
			return 2
		}
		cfg = *c
	}
	if *data != "" {
		cfg.DataDir = *data
	}
	if *secretFile != "" {
		cfg.Replication.SecretFile = *secretFile
	}
	// A new replica may start from an empty directory.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		fmt.Fprintf(os.Stderr, "tidemark sync: data directory: %v\n", err)
		return 2
	}
	certs, err := tlscert.NewReloader(cfg.DataDir, cfg.TLS.Cert, cfg.TLS.Key)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tidemark sync: %v\n", err)
		return 1
	}
	auth, err := replicationAuth(&cfg, certs)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tidemark sync: %v\n", err)
		return 2
	}
	node, err := replica.NodeID(cfg.DataDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tidemark sync: %v\n", err)
		return 1
	}
	st, err := openStore(context.Background(), cfg.Store, cfg.DataDir, storeOptions{MaxMessageSize: int64(cfg.Limits.MaxMessageSize), NoTextIndex: !cfg.Search.TextIndex})
	if err != nil {
		fmt.Fprintf(os.Stderr, "tidemark sync: %v\n", err)
		return 1
	}
	defer st.Close()
	accts, err := openAccounts(context.Background(), cfg.Store, cfg.DataDir, authdb.Options{}, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tidemark sync: %v\n", err)
		return 1
	}
	defer accts.Close()
	// Only the overrides file is read and written here (no limits are
	// checked): it must not be in use by a server on the same directory,
	// whose copy in memory would not see the change.
	quotas, err := quota.New(st, quota.Config{OverridesFile: filepath.Join(cfg.DataDir, quota.OverridesFileName)})
	if err != nil {
		fmt.Fprintf(os.Stderr, "tidemark sync: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	c, err := replica.Dial(ctx, *peer, auth, node)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tidemark sync: %v\n", err)
		return 1
	}
	defer c.Close()
	opts := replica.Options{}
	if *user != "" {
		opts.Users = []string{strings.ToLower(*user)}
	}
	stats, err := replica.Sync(ctx, &replica.Local{Store: st, NodeID: node, Accounts: accts, Quotas: quotas, StageDir: cfg.DataDir}, c, opts)
	r, w := c.Bytes()
	fmt.Printf("synced %d users (%d account records, %d quota settings) with %s (node %s) in %s: %d mailboxes changed, %d mailbox operations, %d messages added, %d bodies sent (%d bytes, %d not parsed again, %d sent compressed as stored), %d flag updates, %d expunges, %d UID clashes; %d bytes received, %d sent\n",
		stats.Users, stats.Logins, stats.Quotas, *peer, c.Node(), time.Since(start).Round(time.Millisecond), stats.Mailboxes, stats.AccountOps,
		stats.Appends, stats.Bodies, stats.BodyBytes, stats.Derived, stats.Compressed, stats.Flags, stats.Expunges, stats.Clashes, r, w)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tidemark sync: %v\n", err)
		return 1
	}
	return 0
}
