package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/config"
	"github.com/tidemark-mail/tidemark/internal/pgstore"
	"github.com/tidemark-mail/tidemark/internal/shardstore"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// storeOptions are what a command asks of the mail store.
type storeOptions struct {
	MaxMessageSize int64
	// Watch: hear of other processes' commits (a serving process); a
	// one-shot command leaves it off.
	Watch bool
	// Logger receives the store's own log lines; nil means none.
	Logger *slog.Logger
	// ReclaimEvery: how often the store reclaims the bodies of expunged
	// messages (serve only); 0 never.
	ReclaimEvery time.Duration
	// NoTextIndex: [search] text_index = false, appends write no text
	// index rows (SEARCH scans what is not indexed).
	NoTextIndex bool
	// TextIndexBehind: the embedded store indexes the text of multi-message
	// appends in the background (sqlitestore.Options.TextIndexBehind).
	TextIndexBehind bool
	// KeepIdle: how long a user's embedded database stays open after its
	// last handle closed (serve: deliveries and logins to a user nobody
	// is connected as do not reopen it each time); 0 closes it at once.
	KeepIdle time.Duration
	// TextMergeIdle: merge the embedded store's text index in the
	// background after this long without a commit (serve only); 0 never.
	TextMergeIdle time.Duration
}

// openStore opens the mail store the configuration names. It is the one
// place the program chooses a backend: every subcommand opens its store
// here, so none of them knows which kind it talks to.
func openStore(ctx context.Context, sc config.Store, dataDir string, o storeOptions) (store.Store, error) {
	switch sc.Kind {
	case "", config.StoreEmbedded:
		return sqlitestore.Open(dataDir, sqlitestore.Options{MaxMessageSize: o.MaxMessageSize, Logger: o.Logger, ReclaimEvery: o.ReclaimEvery,
			NoTextIndex: o.NoTextIndex, TextIndexBehind: o.TextIndexBehind, KeepIdle: o.KeepIdle, TextMergeIdle: o.TextMergeIdle})
	case config.StorePostgres:
		if len(sc.Shards) == 0 {
			return pgstore.Open(ctx, sc.DSN, pgstore.Options{MaxMessageSize: o.MaxMessageSize, NoListen: !o.Watch, ReclaimEvery: o.ReclaimEvery,
				NoTextIndex: o.NoTextIndex})
		}
		return openShards(ctx, sc, o)
	}
	return nil, fmt.Errorf("unknown store kind %q", sc.Kind)
}

// configFlag adds --config to a subcommand that uses the mail store: the
// file's [store] section picks the backend (default: the embedded store
// in the data directory). TIDEMARK_CONFIG gives the default.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", os.Getenv("TIDEMARK_CONFIG"), "configuration `FILE` whose [store] section names the mail store")
}

// storeConfig reads the configuration file at path for its [store] and
// [search] sections; no file means the defaults (the embedded store,
// the text index on).
func storeConfig(path string) (config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	c, err := config.Load(path)
	if err != nil {
		return config.Config{}, err
	}
	return *c, nil
}

// openConfiguredStore is storeConfig then openStore, with the file's
// [search] text_index.
func openConfiguredStore(ctx context.Context, configPath, dataDir string, o storeOptions) (store.Store, error) {
	c, err := storeConfig(configPath)
	if err != nil {
		return nil, err
	}
	o.NoTextIndex = !c.Search.TextIndex
	return openStore(ctx, c.Store, dataDir, o)
}

// openShards opens every PostgreSQL cluster of the configuration, all
// publishing on one Hub, behind the user directory.
func openShards(ctx context.Context, sc config.Store, o storeOptions) (store.Store, error) {
	hub := store.NewHub()
	dsns := map[string]string{config.DefaultShard: sc.DSN}
	for name, dsn := range sc.Shards {
		dsns[name] = dsn
	}
	shards := map[string]store.Store{}
	fail := func(err error) (store.Store, error) {
		for _, st := range shards {
			st.Close()
		}
		return nil, err
	}
	for name, dsn := range dsns {
		st, err := pgstore.Open(ctx, dsn, pgstore.Options{Hub: hub, MaxMessageSize: o.MaxMessageSize, NoListen: !o.Watch, ReclaimEvery: o.ReclaimEvery,
			NoTextIndex: o.NoTextIndex})
		if err != nil {
			return fail(fmt.Errorf("shard %s: %w", name, err))
		}
		shards[name] = st
	}
	s, err := shardstore.New(hub, shards, config.DefaultShard, sc.Users)
	if err != nil {
		return fail(err)
	}
	return s, nil
}

// sharedSettings returns where state that every front end must see alike
// (SETQUOTA limits, retention watermarks) lives: the store, when it is
// shared by several processes; nil (the data directory's files) otherwise.
func sharedSettings(st store.Store) store.Settings {
	if !store.IsShared(st) {
		return nil
	}
	s, _ := st.(store.Settings)
	return s
}

// openAccounts opens the logins that go with the store sc names: the data
// directory's accounts.db beside the embedded store; beside PostgreSQL,
// tables on its default cluster that every front end shares (the store
// must have been opened first: its migrations make them). The first time
// a node opens shared accounts, the records of its own accounts.db move
// in (auth.ImportFile: by the replication rule, once, safe when several
// nodes start at once); log, if not nil, says how many.
func openAccounts(ctx context.Context, sc config.Store, dataDir string, opts auth.Options, log *slog.Logger) (*auth.Accounts, error) {
	if sc.Kind != config.StorePostgres {
		return auth.OpenAccountsWith(dataDir, opts)
	}
	a, err := auth.OpenPostgresAccounts(ctx, sc.DSN, opts)
	if err != nil {
		return nil, err
	}
	n, err := a.ImportFile(ctx, dataDir)
	if err != nil {
		a.Close()
		return nil, err
	}
	if n > 0 && log != nil {
		log.Info("imported this node's accounts into the database", "file", filepath.Join(dataDir, auth.DBFile), "records", n)
	}
	return a, nil
}
