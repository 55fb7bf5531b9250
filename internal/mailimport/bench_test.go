package mailimport

import (
	"context"
	"github.com/tidemark-mail/tidemark/internal/corpus"
	"os"
	"testing"
)

// BenchmarkImportBenchMbox imports the 2,000-message benchmark mbox into an
// empty account per iteration, reporting messages/s and MB/s.
func BenchmarkImportBenchMbox(b *testing.B) {
	path := corpus.Path()
	st, err := os.Stat(path)
	if err != nil {
		b.Skipf("%s not present", path)
	}
	b.SetBytes(st.Size())
	var msgs int
	for b.Loop() {
		b.StopTimer()
		acct := testAccounts(b, "a")[0]
		b.StartTimer()
		stats, err := ImportMbox(context.Background(), acct, path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		msgs += stats.Imported + stats.Skipped
	}
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "messages/s")
}
