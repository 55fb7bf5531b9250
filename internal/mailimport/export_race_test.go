package mailimport

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// hookedAccount calls before ahead of every OpenBlob.
type hookedAccount struct {
	store.Account
	before func()
}

func (a hookedAccount) OpenBlob(ctx context.Context, id string) (store.Blob, error) {
	a.before()
	return a.Account.OpenBlob(ctx, id)
}

// TestExportBesideServer: tidemark export runs in its own process next to
// a server. A message the server expunges after the export listed it,
// and whose body the server reclaims, is left out with a warning; the
// export completes with the others.
func TestExportBesideServer(t *testing.T) {
	ctx := context.Background()
	for _, format := range []string{"maildir", "mbox"} {
		for name, inline := range map[string]int64{"inline": 0, "file": -1} {
			t.Run(format+"/"+name, func(t *testing.T) {
				dir := t.TempDir()
				server, err := sqlitestore.Open(dir, sqlitestore.Options{InlineBodyMax: inline})
				if err != nil {
					t.Fatal(err)
				}
				defer server.Close()
				if err := server.CreateUser(ctx, "alice"); err != nil {
					t.Fatal(err)
				}
				sa, _ := server.Open(ctx, "alice")
				defer sa.Close()
				inbox, _ := sa.Mailbox(ctx, "INBOX")
				var msgs []store.NewMessage
				for i := range 3 {
					msgs = append(msgs, store.NewMessage{Body: strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i))})
				}
				if _, err := sa.Append(ctx, inbox.ID, msgs); err != nil {
					t.Fatal(err)
				}
				exporter, err := sqlitestore.Open(dir, sqlitestore.Options{InlineBodyMax: inline})
				if err != nil {
					t.Fatal(err)
				}
				defer exporter.Close()
				ea, _ := exporter.Open(ctx, "alice")
				defer ea.Close()
				fired := false
				acct := hookedAccount{ea, func() {
					if fired {
						return
					}
					fired = true
					if _, err := sa.Expunge(ctx, inbox.ID, store.UIDSetOf(2)); err != nil {
						t.Fatal(err)
					}
					if st, err := server.Reclaim(ctx, "alice", -1); err != nil || st.Bodies != 1 {
						t.Fatalf("reclaim = %+v, %v", st, err)
					}
				}}
				var warnings []string
				opts := ExportOptions{Warn: func(s string) { warnings = append(warnings, s) }}
				out := filepath.Join(t.TempDir(), "out")
				var stats Stats
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
						b, _ := os.ReadFile(p)
						text.Write(b)
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
