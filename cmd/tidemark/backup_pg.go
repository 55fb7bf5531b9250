package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"

	"github.com/tidemark-mail/tidemark/internal/config"
	"github.com/tidemark-mail/tidemark/internal/pgstore"
)

// pgClusters returns the PostgreSQL clusters of a configuration, by name
// (the default one is config.DefaultShard), in a stable order.
func pgClusters(sc config.Store) (names []string, dsns map[string]string) {
	dsns = map[string]string{config.DefaultShard: sc.DSN}
	for name, dsn := range sc.Shards {
		dsns[name] = dsn
	}
	for name := range dsns {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, dsns
}

// pgTool runs one of PostgreSQL's programs (pg_dump, pg_restore) with
// args, its output going to ours.
func pgTool(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// backupPostgres dumps every cluster of sc with pg_dump (one consistent
// snapshot per cluster, custom format) into to/NAME.pgdump.
func backupPostgres(ctx context.Context, sc config.Store, to string) error {
	names, dsns := pgClusters(sc)
	for _, name := range names {
		file := filepath.Join(to, name+".pgdump")
		if err := pgTool(ctx, "pg_dump", "--format=custom", "--no-owner", "--file", file, "--dbname", pgstore.LibpqDSN(dsns[name])); err != nil {
			return fmt.Errorf("cluster %s: %w", name, err)
		}
		st, err := os.Stat(file)
		if err != nil {
			return err
		}
		fmt.Printf("cluster %s: %s (%.1f MB)\n", name, file, float64(st.Size())/1e6)
	}
	return nil
}

// restorePostgres loads each cluster's dump from `from` (when not empty)
// into its database, which must be empty, then raises the modseq floor of
// every cluster (pgstore.RaiseFloor): the front ends must be stopped.
func restorePostgres(ctx context.Context, sc config.Store, from string, force bool) error {
	names, dsns := pgClusters(sc)
	if from != "" {
		for _, name := range names {
			file := filepath.Join(from, name+".pgdump")
			if err := pgTool(ctx, "pg_restore", "--exit-on-error", "--single-transaction", "--no-owner", "--dbname", pgstore.LibpqDSN(dsns[name]), file); err != nil {
				return fmt.Errorf("cluster %s: %w", name, err)
			}
			fmt.Printf("cluster %s: restored from %s\n", name, file)
		}
	}
	for _, name := range names {
		r, err := pgstore.RaiseFloor(ctx, dsns[name], force)
		if err != nil {
			return fmt.Errorf("cluster %s: raise the floor: %w", name, err)
		}
		fmt.Printf("cluster %s: %d mailboxes of %d users have a new UIDVALIDITY and HIGHESTMODSEQ +%d\n", name, r.Mailboxes, r.Users, int64(pgstore.FloorModSeqStep))
	}
	return nil
}
