package main

import (
	"fmt"
	"os"

	"github.com/tidemark-mail/tidemark/internal/config"
)

func init() {
	register("config", "check a configuration file", runConfig)
}

const configUsage = "usage: tidemark config check FILE"

// runConfig implements `tidemark config check FILE`: it reads the file as
// serve would and prints every problem with its line. Exit 0 when the file
// is good, 1 when it has problems, 2 for a usage error.
func runConfig(args []string) int {
	if len(args) != 2 || args[0] != "check" {
		fmt.Fprintln(os.Stderr, configUsage)
		return 2
	}
	path := args[1]
	if _, err := config.Load(path); err != nil {
		if errs, ok := err.(config.Errors); ok {
			for _, e := range errs {
				fmt.Printf("%s:%s\n", path, lineSuffix(e))
			}
			fmt.Printf("%d problem(s)\n", len(errs))
		} else {
			fmt.Fprintln(os.Stderr, "tidemark config:", err)
		}
		return 1
	}
	fmt.Printf("%s: ok\n", path)
	return 0
}

// lineSuffix formats an error as "LINE: key: message" (the compiler
// convention, so editors can jump to it).
func lineSuffix(e config.Error) string {
	if e.Line > 0 {
		return fmt.Sprintf("%d: %s", e.Line, config.Error{Key: e.Key, Msg: e.Msg}.Error())
	}
	return " " + e.Error()
}
