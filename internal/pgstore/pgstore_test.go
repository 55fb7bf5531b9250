package pgstore

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetest"
)

func TestMain(m *testing.M) {
	pgtest.UseTemplate(migrated)
	pgtest.ParallelDefault(6)
	os.Exit(pgtest.Main(m))
}

// migrated readies a test database: the schema, as Open leaves it.
func migrated(ctx context.Context, dsn string) error {
	s, err := Open(ctx, dsn, Options{NoListen: true})
	if err != nil {
		return err
	}
	s.Close()
	return nil
}

var ctx = context.Background()

// dsns remembers each test store's database, for Reopen.
var (
	dsnsMu sync.Mutex
	dsns   = map[*Store]string{}
)

func openTest(t testing.TB, dsn string, opts Options) *Store {
	t.Helper()
	s, err := Open(ctx, dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	dsnsMu.Lock()
	dsns[s] = dsn
	dsnsMu.Unlock()
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the backend-neutral store suite on PostgreSQL.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		New: func(t testing.TB, o storetest.Options) store.Store {
			return openTest(t, pgtest.DSN(t), Options{MaxMessageSize: o.MaxMessageSize})
		},
		TombstoneRows: func(t testing.TB, a store.Account, id store.MailboxID) int {
			t.Helper()
			var n int
			if err := a.(*Account).s.pool.QueryRow(ctx, `SELECT count(*) FROM tombstones WHERE mailbox_id = $1`, id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		},
		Reopen: func(t testing.TB, st store.Store) store.Store {
			dsnsMu.Lock()
			dsn := dsns[st.(*Store)]
			dsnsMu.Unlock()
			return openTest(t, dsn, Options{})
		},
		Parallel: true,
	})
}

// openInbox opens user's account on s for the rest of the test and
// returns it with its INBOX.
func openInbox(t *testing.T, s *Store, user string) (store.Account, store.MailboxInfo) {
	t.Helper()
	ctx := context.Background()
	a, err := s.Open(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	inbox, err := a.Mailbox(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return a, inbox
}
