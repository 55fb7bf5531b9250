package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func init() {
	register("check", "verify a user's store", runCheck)
}

// runCheck verifies one user's store, or every user's, with the store
// backend's consistency checker (store.Checker; store.Repairer for
// --repair). It prints each problem and exits 1 if
// there were any. With --repair it first expunges the messages whose bytes
// are lost (missing, truncated or corrupt blobs), leaving tombstones and
// never lowering a modseq, then recomputes what the messages determine
// (STATUS counters; UIDNEXT, HIGHESTMODSEQ and the durable modseq floor,
// only ever raised: see the backend's Repair), rebuilds the text index
// (store.Reindexer), then checks again;
// problems it cannot repair are still reported and still exit 1.
func runCheck(args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	data := fs.String("data", "", "data directory of the store (required)")
	configPath := configFlag(fs)
	user := fs.String("user", "", "check only this user (default: every user)")
	repair := fs.Bool("repair", false, "expunge messages whose bytes are lost, recompute counters, then check again")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *data == "" || fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: tidemark check --data DIR [--user NAME] [--repair]")
		return 2
	}
	if _, err := os.Stat(*data); err != nil {
		fmt.Fprintln(os.Stderr, "tidemark check:", err)
		return 2
	}
	ctx := context.Background()
	s, err := openConfiguredStore(ctx, *configPath, *data, storeOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "tidemark check:", err)
		return 2
	}
	defer s.Close()
	checker, ok := s.(store.Checker)
	repairer, canRepair := s.(store.Repairer)
	if !ok || (*repair && !canRepair) {
		fmt.Fprintln(os.Stderr, "tidemark check: this store backend has no checker or repair")
		return 2
	}
	users := []string{*user}
	if *user == "" {
		if users, err = s.Users(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "tidemark check:", err)
			return 2
		}
	}
	bad := 0
	for _, u := range users {
		if *repair {
			acct, err := s.Open(ctx, u)
			if err != nil {
				fmt.Fprintf(os.Stderr, "tidemark check: %s: %v\n", u, err)
				return 2
			}
			done, err := repairUser(ctx, acct)
			acct.Close()
			if err == nil {
				var fixed []store.Problem
				fixed, err = repairer.Repair(ctx, u)
				for _, p := range fixed {
					done = append(done, p.String())
				}
			}
			if ri, ok := s.(store.Reindexer); ok && err == nil {
				// The text index is derived: rebuild it whole.
				if err = ri.Reindex(ctx, u); err == nil {
					done = append(done, "text index rebuilt")
				}
			}
			for _, d := range done {
				fmt.Printf("%s: repaired: %s\n", u, d)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "tidemark check: %s: repair: %v\n", u, err)
				return 2
			}
		}
		problems, err := checker.Check(ctx, u)
		if err != nil {
			fmt.Fprintf(os.Stderr, "tidemark check: %s: %v\n", u, err)
			return 2
		}
		for _, p := range problems {
			fmt.Printf("%s: %s\n", u, p)
		}
		if len(problems) == 0 {
			fmt.Printf("%s: ok\n", u)
		}
		bad += len(problems)
	}
	if bad > 0 {
		fmt.Printf("%d problem(s)\n", bad)
		return 1
	}
	return 0
}
