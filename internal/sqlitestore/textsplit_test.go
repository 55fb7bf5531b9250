package sqlitestore

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// undoV16 turns a current database back into schema version 15, its text
// index empty (version15Index fills it).
var undoV16 = append(slices.Clone(undoV17), `DROP TABLE text_body`, `DROP TABLE text_header`)

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

// splitState reads the conversion's marks and the old table's rows.
func splitState(t *testing.T, a *Account) (done, upto int64, splitting bool, oldRows int) {
	t.Helper()
	done, upto, splitting, err := textSplit(context.Background(), a.u.r)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.u.r.QueryRow(`SELECT count(*) FROM text_index`).Scan(&oldRows); err != nil {
		t.Fatal(err)
	}
	return done, upto, splitting, oldRows
}

// TestTextIndexUpgradeV16: a version 15 store, its index complete in the
// old one-table format, is converted on opening without a moment of
// scanning: the old table answers for the contents not converted yet, the
// new tables for the rest (appends after the conversion, the batches
// converted), every search equal to the scan and reading no message at
// each step, expunges included. The background indexer finishes the
// conversion and empties the old table; without it (a store opened by a
// command other than serve) Reindex does.
func TestTextIndexUpgradeV16(t *testing.T) {
	defer func(n int) { behindBatch = n }(behindBatch)
	behindBatch = 10
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
			// otherwise convert so few messages before the test looks.
			s = openStore(t, dir, Options{InlineBodyMax: 1500})
			a, err := s.openAccount(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			if done, upto, splitting, old := splitState(t, a); !splitting || done != 0 || upto != 45 || old != 45 {
				t.Fatalf("after conversion: %d, %d, %v, %d old rows", done, upto, splitting, old)
			}
			if _, pending := backlog(t, a); pending {
				t.Fatal("a backlog after conversion")
			}
			compareSearches(t, r, a, inbox.ID, 40, "converted, the old table answering")
			appendRandom(t, r, a, inbox.ID, 5) // into the new tables
			compareSearches(t, r, a, inbox.ID, 40, "converted, appended")
			for range 2 {
				if more, _, err := a.u.splitStep(ctx); err != nil || !more {
					t.Fatalf("step: %v, %v", more, err)
				}
			}
			if done, _, _, old := splitState(t, a); done != 20 || old != 45 {
				t.Fatalf("after two steps: done %d, %d old rows", done, old)
			}
			compareSearches(t, r, a, inbox.ID, 40, "half converted")
			if _, err := a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 3, Stop: 4}, {Start: 30, Stop: 31}, {Start: 47, Stop: 47}}); err != nil {
				t.Fatal(err)
			}
			if _, _, _, old := splitState(t, a); old != 41 {
				t.Fatalf("%d old rows after expunging four of them", old)
			}
			compareSearches(t, r, a, inbox.ID, 40, "half converted, expunged")
			if behind {
				a.Close()
				s.Close()
				s = openStore(t, dir, Options{InlineBodyMax: 1500, TextIndexBehind: true})
				if a, err = s.openAccount(ctx, "alice"); err != nil {
					t.Fatal(err)
				}
				for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
					if _, _, splitting, _ := splitState(t, a); !splitting {
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("the conversion did not end")
					}
				}
			} else if err := s.Reindex(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if _, _, splitting, old := splitState(t, a); splitting || old != 0 {
				t.Fatalf("after the conversion: %v, %d old rows", splitting, old)
			}
			compareSearches(t, r, a, inbox.ID, 80, "converted")
			assertIndexRows(t, s, a)
		})
	}
}
