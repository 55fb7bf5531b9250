package sqlitestore

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// undoV16 turns a current database back into schema version 15, its text
// index empty (version15Index fills it).
var undoV16 = []string{`DROP TABLE text_body`, `DROP TABLE text_header`}

// version15Index writes a's text index as schema version 15 held it: the
// header and the body of each contents row in one text_index row.
func version15Index(t *testing.T, a *Account) {
	t.Helper()
	ctx := context.Background()
	err := a.u.write(ctx, func(w *writeTx) error {
		rows, err := w.tx.QueryContext(ctx, `SELECT id, blob_id, structure FROM contents`)
		if err != nil {
			return err
		}
		type row struct {
			id           int64
			header, body string
		}
		var all []row
		for rows.Next() {
			var id int64
			var blobID string
			var structure []byte
			if err := rows.Scan(&id, &blobID, &structure); err != nil {
				rows.Close()
				return err
			}
			x := a.u.derive(ctx, blobID, structure, false).text
			if x == nil {
				t.Fatalf("contents %d unreadable", id)
			}
			all = append(all, row{id, x.Header, x.Body})
		}
		rows.Close()
		for _, r := range all {
			if _, err := w.tx.ExecContext(ctx, `INSERT INTO text_index (rowid, header, body) VALUES (?, ?, ?)`, r.id, r.header, r.body); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTextIndexUpgradeV16: a version 15 store, its index complete in the
// old one-table format, is converted on opening. Searches stay exact at
// once (the scan answers for what is not indexed again yet), the
// background indexer writes the new tables from the first message, and
// then the index alone answers; the old table is left empty. Without the
// background indexer (a store opened by a command other than serve), the
// backlog stays and Reindex builds the index instead.
func TestTextIndexUpgradeV16(t *testing.T) {
	for _, behind := range []bool{true, false} {
		name := "reindex"
		if behind {
			name = "behind"
		}
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(textSeed(t), 16))
			dir := t.TempDir()
			ctx := context.Background()
			s := openStore(t, dir, Options{InlineBodyMax: 1500})
			a := aliceAccount(t, s)
			inbox := mustMailbox(t, a, "INBOX")
			for range 3 {
				appendRandom(t, r, a, inbox.ID, 15)
			}
			version15Index(t, a)
			a.Close()
			s.Close()
			downgradeAlice(t, dir, append(undoV16, `PRAGMA user_version = 15`)...)

			// Opened first without the background indexer, which would
			// otherwise catch up with so few messages before the test looks.
			s = openStore(t, dir, Options{InlineBodyMax: 1500})
			a, err := s.openAccount(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			var old int
			if err := a.u.r.QueryRowContext(ctx, `SELECT count(*) FROM text_index`).Scan(&old); err != nil || old != 0 {
				t.Fatalf("%d rows left in the old index, %v", old, err)
			}
			if after, pending := backlog(t, a); !pending || after != 0 {
				t.Fatalf("backlog after conversion: %d, %v", after, pending)
			}
			h, err := a.SearchText(ctx, inbox.ID, store.TextBody, "alpha", store.UIDSet{{Start: 1, Stop: 100}})
			if err != nil || !h.OK || !h.Sure.Empty() || h.Maybe.String() != "1:45" {
				t.Fatalf("before indexing: %+v, %v", h, err)
			}
			compareServed(t, r, a, inbox.ID, 40, "converted, nothing indexed")
			appendRandom(t, r, a, inbox.ID, 5) // behind the backlog
			if _, pending := backlog(t, a); !pending {
				t.Fatal("the backlog is gone without an indexer")
			}
			if behind {
				a.Close()
				s.Close()
				s = openStore(t, dir, Options{InlineBodyMax: 1500, TextIndexBehind: true})
				if a, err = s.openAccount(ctx, "alice"); err != nil {
					t.Fatal(err)
				}
				waitIndexed(t, a)
			} else if err := s.Reindex(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if _, pending := backlog(t, a); pending {
				t.Fatal("the backlog stays")
			}
			compareSearches(t, r, a, inbox.ID, 80, "converted and indexed again")
			assertIndexRows(t, s, a)
		})
	}
}
