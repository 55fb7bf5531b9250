package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func init() {
	register("reindex", "rebuild the text index SEARCH uses and fill in stored sort keys and previews", runReindex)
}

// runReindex rebuilds the text index of one user or every user
// (store.Reindexer), and fills in the sort keys and previews of messages
// stored before the store kept them. A server may run beside it: SEARCH scans while a
// user's index is rebuilt, and messages appended meanwhile are indexed by
// their own transactions.
func runReindex(args []string) int {
	fs := flag.NewFlagSet("reindex", flag.ContinueOnError)
	data := fs.String("data", "", "data directory of the store (required)")
	configPath := configFlag(fs)
	user := fs.String("user", "", "rebuild only this user's index (default: every user)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *data == "" || fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: tidemark reindex --data DIR [--user NAME]")
		return 2
	}
	if _, err := os.Stat(*data); err != nil {
		fmt.Fprintln(os.Stderr, "tidemark reindex:", err)
		return 2
	}
	ctx := context.Background()
	s, err := openConfiguredStore(ctx, *configPath, *data, storeOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "tidemark reindex:", err)
		return 2
	}
	defer s.Close()
	ri, ok := s.(store.Reindexer)
	if !ok {
		fmt.Fprintln(os.Stderr, "tidemark reindex: this store backend has no text index to rebuild")
		return 2
	}
	users := []string{*user}
	if *user == "" {
		if users, err = s.Users(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "tidemark reindex:", err)
			return 2
		}
	}
	for _, u := range users {
		start := time.Now()
		if err := ri.Reindex(ctx, u); err != nil {
			fmt.Fprintf(os.Stderr, "tidemark reindex: %s: %v\n", u, err)
			return 1
		}
		fmt.Printf("%s: text index rebuilt in %s\n", u, time.Since(start).Round(time.Millisecond))
	}
	return 0
}
