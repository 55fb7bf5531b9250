package sqlitestore

import (
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetest"
)

// TestConformance runs the backend-neutral store suite on the embedded
// store.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		New: func(t testing.TB, o storetest.Options) store.Store {
			return openStore(t, t.TempDir(), Options{MaxMessageSize: o.MaxMessageSize})
		},
		Reopen: func(t testing.TB, st store.Store) store.Store {
			return openStore(t, st.(*Store).dir, Options{})
		},
		ModelSetup: func(t *testing.T, seed int) {
			withStep(t, 16) // exercise manifest reservations too
			// Tiny chunks for most seeds, so chunk boundaries, full last
			// chunks and emptied chunks all occur.
			withChunkMax(t, []int{2, 3, 256}[seed%3])
		},
		TombstoneRows: func(t testing.TB, a store.Account, id store.MailboxID) int {
			t.Helper()
			var n int
			if err := a.(*Account).u.r.QueryRowContext(ctx, `SELECT count(*) FROM tombstones WHERE mailbox_id = ?`, id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		},
	})
}
