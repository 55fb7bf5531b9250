// Package corpus locates the sample mail corpus, an mbox of 2,000 realistic
// messages (MIME mixes, attachments, threads, encoded headers) that tests,
// benchmarks and `tidemark load` use. It lives outside the repository, in
// shared/data/bench.mbox beside the checkout.
package corpus

import (
	"os"
	"path/filepath"
)

// Path returns where the corpus is: $TIDEMARK_BENCH_MBOX when set, else
// shared/data/bench.mbox beside the module root found above the working
// directory, else the machine-wide default. The file may not exist; callers
// that can do without it skip.
func Path() string {
	if p := os.Getenv("TIDEMARK_BENCH_MBOX"); p != "" {
		return p
	}
	if dir, err := os.Getwd(); err == nil {
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				p := filepath.Join(dir, "..", "shared", "data", "bench.mbox")
				if _, err := os.Stat(p); err == nil {
					return p
				}
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "/work/shared/data/bench.mbox"
}
