package sqlitestore

import (
	"context"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/sortthread"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// undoV9 turns a current database back into schema version 8.
var undoV9 = append(slices.Clone(undoV10),
	`ALTER TABLE contents DROP COLUMN sort_keys`,
	`ALTER TABLE contents DROP COLUMN preview`,
)

// TestSummaryUpgrade converts a version 8 database: its messages have no
// stored sort keys (readers compute them) until Reindex fills them in,
// with what delivery would have stored; messages appended after the
// upgrade have them at once. No preview is stored either way since
// version 14 (ReadMessages computes it).
func TestSummaryUpgrade(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	ctx := context.Background()
	a := aliceAccount(t, s)
	inbox := mustMailbox(t, a, "INBOX")
	r := rand.New(rand.NewPCG(9, 9))
	appendRandom(t, r, a, inbox.ID, 20)
	a.Close()
	s.Close()
	downgradeAlice(t, dir, append(undoV9, `PRAGMA user_version = 8`)...)

	s = openStore(t, dir, Options{})
	a, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	appendRandom(t, r, a, inbox.ID, 5)
	stored := func() (keys, previews int) {
		t.Helper()
		want := map[store.UID]sortthread.Msg{}
		err := a.Messages(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 100}}, func(md *store.MessageData) error {
			want[md.UID] = sortthread.FromMessage(md)
			if md.HasPreview {
				previews++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = a.MessageKeys(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 100}}, func(k *store.MessageKeys) error {
			if k.Keys == nil {
				return nil
			}
			keys++
			got, err := sortthread.DecodeKeys(k.Keys, k.UID, k.InternalDate, k.Size)
			if err != nil || !reflect.DeepEqual(got, want[k.UID]) {
				t.Fatalf("UID %d: stored %+v (%v), computed %+v", k.UID, got, err, want[k.UID])
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return keys, previews
	}
	if k, p := stored(); k != 5 || p != 0 {
		t.Fatalf("after the upgrade: %d stored keys, %d previews; want the 5 new messages' keys, no preview", k, p)
	}
	if err := s.Reindex(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if k, p := stored(); k != 25 || p != 0 {
		t.Fatalf("after Reindex: %d stored keys, %d previews; want 25 keys, no preview (schema 14)", k, p)
	}
	assertClean(t, s, "alice")
}
