// Package corpus locates the sample mail corpus, an mbox of 2,000 realistic
// messages (MIME mixes, attachments, threads, encoded headers) that tests,
// benchmarks and `tidemark load` use. It lives outside the repository, in
// ../shared/data/bench.mbox beside the checkout.
package corpus

import (
	"os"
	"path/filepath"
)

// Path returns where the corpus is: $TIDEMARK_BENCH_MBOX when set, else
// ../shared/data/bench.mbox beside the module root found above the working
// directory (whether or not the file is there, so that an error names the
// place looked at). It returns "" outside a module with the variable unset.
func Path() string {
	if p := os.Getenv("TIDEMARK_BENCH_MBOX"); p != "" {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(dir), "shared", "data", "bench.mbox")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Required reports whether tests must find the corpus and the reference
// servers rather than skip without them: true when $TIDEMARK_CI is set, as
// continuous integration does (it has ../shared beside the checkout and
// starts a reference Dovecot), so that those tests cannot silently stop
// running there.
func Required() bool { return os.Getenv("TIDEMARK_CI") != "" }
