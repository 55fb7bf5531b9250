package auth

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/pgstore"
	"github.com/tidemark-mail/tidemark/internal/pgtest"
)

// The tests that use records run over both implementations: onBoth runs
// each as the subtests "sqlite" (DATA/accounts.db) and "postgres" (the
// tables of a PostgreSQL store, in a private instance pgtest starts).
func TestMain(m *testing.M) {
	pgtest.UseTemplate(func(ctx context.Context, dsn string) error {
		st, err := pgstore.Open(ctx, dsn, pgstore.Options{NoListen: true})
		if err != nil {
			return err
		}
		return st.Close()
	})
	os.Exit(pgtest.Main(m))
}

func onBoth(t *testing.T, f func(t *testing.T)) {
	t.Run("sqlite", f)
	t.Run("postgres", f)
}

// onPostgres reports whether t runs inside onBoth's "postgres" subtest.
func onPostgres(t testing.TB) bool {
	return strings.Contains(t.Name()+"/", "/postgres/")
}

var databases sync.Map // data directory of a test → its PostgreSQL DSN

// databaseOf returns the database standing for dir: made (migrated) on
// first use, dropped when the test that made it ends.
func databaseOf(t testing.TB, dir string) string {
	if dsn, ok := databases.Load(dir); ok {
		return dsn.(string)
	}
	dsn := pgtest.DSN(t)
	databases.Store(dir, dsn)
	return dsn
}

// execRaw runs statement on a's records directly (to damage them).
func execRaw(a *Accounts, statement string) error {
	switch r := a.recs.(type) {
	case sqliteRecords:
		_, err := r.db.Exec(statement)
		return err
	case pgRecords:
		_, err := r.pool.Exec(ctx, statement)
		return err
	}
	panic("unknown records")
}
