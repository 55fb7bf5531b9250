package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tidemark-mail/tidemark/internal/config"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
)

func init() {
	register("backup", "copy every user's store (or one) while the server runs", runBackup)
	register("restore", "bring users back from a backup (server stopped)", runRestore)
}

// runBackup takes an online backup: per user, a consistent copy of the
// database (VACUUM INTO) plus the message files and the manifest (see
// sqlitestore.BackupUser), and a copy of the accounts database. DEST is
// laid out like a data directory, so `tidemark check --data DEST` verifies
// it.
func runBackup(args []string) int {
	fl := flag.NewFlagSet("backup", flag.ContinueOnError)
	data := fl.String("data", "", "data directory of the server (required)")
	to := fl.String("to", "", "backup directory to create (required; must not exist or be empty)")
	user := fl.String("user", "", "back up only this user (default: every user)")
	cfgPath := configFlag(fl)
	if err := fl.Parse(args); err != nil {
		return 2
	}
	cfg, err := storeConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tidemark backup:", err)
		return 1
	}
	pg := cfg.Store.Kind == config.StorePostgres
	if (*data == "" && !pg) || *to == "" || fl.NArg() != 0 || (pg && *user != "") {
		fmt.Fprintln(os.Stderr, "usage: tidemark backup --data DIR --to DEST [--user NAME]\n       tidemark backup --config FILE --to DEST   (PostgreSQL: every user)")
		return 2
	}
	if es, err := os.ReadDir(*to); err == nil && len(es) > 0 {
		fmt.Fprintf(os.Stderr, "tidemark backup: %s is not empty\n", *to)
		return 2
	}
	ctx := context.Background()
	if pg {
		if err := os.MkdirAll(*to, 0o700); err == nil {
			err = backupPostgres(ctx, cfg.Store, *to)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "tidemark backup:", err)
			return 1
		}
		return 0
	}
	users := []string{*user}
	if *user == "" {
		s, err := sqlitestore.Open(*data, sqlitestore.Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "tidemark backup:", err)
			return 1
		}
		users, err = s.Users(ctx)
		s.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "tidemark backup:", err)
			return 1
		}
	}
	if err := os.MkdirAll(*to, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, "tidemark backup:", err)
		return 1
	}
	if _, err := os.Stat(filepath.Join(*data, "accounts.db")); err == nil {
		if err := sqlitestore.CopyDatabase(ctx, filepath.Join(*data, "accounts.db"), filepath.Join(*to, "accounts.db")); err != nil {
			fmt.Fprintln(os.Stderr, "tidemark backup: accounts:", err)
			return 1
		}
	}
	for _, u := range users {
		st, err := sqlitestore.BackupUser(ctx, *data, u, *to)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tidemark backup:", err)
			return 1
		}
		fmt.Printf("%s: database %.1f MB, %d message files (%.1f MB)\n", u, float64(st.DBBytes)/1e6, st.Blobs, float64(st.BlobBytes)/1e6)
	}
	return 0
}

// runRestore puts users back from a backup. The server must be stopped.
// Every restored mailbox gets a new UIDVALIDITY and a HIGHESTMODSEQ above
// any handed out before, so no client mistakes the restored state for the
// one it synced with. The accounts database is restored only into a data
// directory that has none.
func runRestore(args []string) int {
	fl := flag.NewFlagSet("restore", flag.ContinueOnError)
	from := fl.String("from", "", "backup directory made by tidemark backup (required)")
	data := fl.String("data", "", "data directory to restore into (required)")
	user := fl.String("user", "", "restore only this user (default: every user in the backup)")
	cfgPath := configFlag(fl)
	raise := fl.Bool("raise-floor", false, "PostgreSQL: only raise the modseq floor of the configured database (after a restore made with PostgreSQL's own tools)")
	force := fl.Bool("force", false, "PostgreSQL: raise the floor although other sessions use the database")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	cfg, err := storeConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tidemark restore:", err)
		return 1
	}
	ctx := context.Background()
	if cfg.Store.Kind == config.StorePostgres {
		if (*from == "") == !*raise || *user != "" || fl.NArg() != 0 {
			fmt.Fprintln(os.Stderr, "usage: tidemark restore --config FILE (--from BACKUP | --raise-floor) [--force]")
			return 2
		}
		if err := restorePostgres(ctx, cfg.Store, *from, *force); err != nil {
			fmt.Fprintln(os.Stderr, "tidemark restore:", err)
			return 1
		}
		return 0
	}
	if *data == "" || *from == "" || fl.NArg() != 0 || *raise {
		fmt.Fprintln(os.Stderr, "usage: tidemark restore --from BACKUP --data DIR [--user NAME]")
		return 2
	}
	users := []string{*user}
	if *user == "" {
		b, err := sqlitestore.Open(*from, sqlitestore.Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "tidemark restore:", err)
			return 1
		}
		users, err = b.Users(ctx)
		b.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "tidemark restore:", err)
			return 1
		}
	}
	if err := os.MkdirAll(filepath.Join(*data, "users"), 0o700); err != nil {
		fmt.Fprintln(os.Stderr, "tidemark restore:", err)
		return 1
	}
	acctsDst := filepath.Join(*data, "accounts.db")
	if _, err := os.Stat(acctsDst); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(*from, "accounts.db")); err == nil {
			if err := sqlitestore.CopyDatabase(ctx, filepath.Join(*from, "accounts.db"), acctsDst); err != nil {
				fmt.Fprintln(os.Stderr, "tidemark restore: accounts:", err)
				return 1
			}
		}
	}
	for _, u := range users {
		if err := sqlitestore.RestoreUser(ctx, *from, *data, u); err != nil {
			fmt.Fprintln(os.Stderr, "tidemark restore:", err)
			return 1
		}
		fmt.Printf("%s: restored; every mailbox has a new UIDVALIDITY\n", u)
	}
	return 0
}
