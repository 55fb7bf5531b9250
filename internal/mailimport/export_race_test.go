package mailimport

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore/sqlitetest"
)

// TestExportBesideServer: tidemark export runs in its own process next to
// a server. A message the server expunges after the export listed it,
// and whose body the server reclaims, is left out with a warning; the
// export completes with the others.
func TestExportBesideServer(t *testing.T) {
	ctx := context.Background()
	for _, format := range []string{"maildir", "mbox"} {
		for name, inline := range map[string]int64{"inline": 0, "file": -1} {
			t.Run(format+"/"+name, func(t *testing.T) {
				b := sqlitetest.NewBeside(t, inline)
				acct := b.Racing(t)
				var warnings []string
				opts := ExportOptions{Warn: func(s string) { warnings = append(warnings, s) }}
				out := filepath.Join(t.TempDir(), "out")
				var stats Stats
				var err error
				if format == "maildir" {
					stats, err = ExportMaildir(ctx, acct, out, opts)
				} else {
					stats, err = ExportMbox(ctx, acct, out, opts)
				}
				if err != nil {
					t.Fatalf("export: %v", err)
				}
				if stats.Imported != 2 || len(warnings) != 1 || !strings.Contains(warnings[0], "UID 2: expunged during the export") {
					t.Fatalf("exported %d, warnings %q; want 2 and one about UID 2", stats.Imported, warnings)
				}
				// What was written holds messages 1 and 3 only.
				var text strings.Builder
				filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						data, _ := os.ReadFile(p)
						text.Write(data)
					}
					return nil
				})
				if s := text.String(); !strings.Contains(s, "body 0") || strings.Contains(s, "body 1") || !strings.Contains(s, "body 2") {
					t.Fatalf("exported text:\n%s", s)
				}
			})
		}
	}
}
