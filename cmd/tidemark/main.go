// Command tidemark is the Tidemark mail server and its tools, one binary
// with subcommands. Each subcommand lives in the file named after it.
package main

import (
	"fmt"
	"os"
	"sort"
)

// subcommand is one `tidemark NAME` entry point. run gets the arguments
// after NAME and returns the process exit code.
type subcommand struct {
	summary string
	run     func(args []string) int
}

var subcommands = map[string]subcommand{}

// register adds a subcommand; each subcommand file calls it from init.
func register(name, summary string, run func(args []string) int) {
	if _, dup := subcommands[name]; dup {
		panic("tidemark: subcommand registered twice: " + name)
	}
	subcommands[name] = subcommand{summary, run}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: tidemark COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, subcommands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'tidemark COMMAND -h' for a command's flags.")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		os.Exit(2)
	}
	c, ok := subcommands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "tidemark: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	os.Exit(c.run(os.Args[2:]))
}
