package sqlitestore

import (
	"context"
	"database/sql"
	"sync"
)

// Prepared statements, kept for the life of a user's open store.
//
// database/sql prepares a query given as text on every call: SQLite parses
// and plans it again, which for the short statements of a small write
// (look up the mailbox, allocate a modseq, rewrite a chunk) cost about as
// much as running them. A stmtCache keeps one *sql.Stmt per query text on
// its *sql.DB; a transaction uses it through Tx.StmtContext, which reuses
// the statement already prepared on the transaction's connection.
//
// The writer database has a single connection, held by the transaction
// while it runs, so a query first seen inside a write transaction cannot be
// prepared on the database there and then (that would wait for the
// connection): it runs unprepared and is prepared right after the
// transaction ends (writeTx.missed, userDB.write). Reader databases have
// several connections and prepare on first use.

// maxCachedStmts bounds a cache: queries are fixed texts, so this is far
// above the number in use; a query built with variable text past the bound
// simply runs unprepared.
const maxCachedStmts = 256

type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: make(map[string]*sql.Stmt)}
}

// get returns the prepared statement of q, nil if there is none yet.
func (c *stmtCache) get(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[q]
}

// prepare makes sure q is prepared on the database and returns it; nil
// when it cannot be (the caller then runs q unprepared).
func (c *stmtCache) prepare(ctx context.Context, q string) *sql.Stmt {
	if s := c.get(q); s != nil {
		return s
	}
	c.mu.Lock()
	full := c.m == nil || len(c.m) >= maxCachedStmts // nil: closed
	c.mu.Unlock()
	if full {
		return nil
	}
	s, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[q]; old != nil || c.m == nil {
		s.Close()
		return old
	}
	c.m[q] = s
	return s
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.m {
		s.Close()
	}
	c.m = nil
}

// txStmts runs queries of one transaction through a cache's statements:
// it is a querier.
type txStmts struct {
	tx    *sql.Tx
	cache *stmtCache           // nil: none, every query runs unprepared
	bound map[string]*sql.Stmt // the cache's statements bound to tx
	// lazy: a query not in the cache is run unprepared and listed in
	// missed, for the caller to prepare after the transaction; otherwise
	// it is prepared at once.
	lazy   bool
	missed []string
}

// cached returns the cache's statement of q, preparing it now (reader) or
// noting it for after the transaction (lazy writer).
func (t *txStmts) cached(ctx context.Context, q string) *sql.Stmt {
	if t.cache == nil {
		return nil // no cache: every query runs unprepared
	}
	if !t.lazy {
		return t.cache.prepare(ctx, q)
	}
	s := t.cache.get(q)
	if s == nil {
		t.missed = append(t.missed, q)
	}
	return s
}

func (t *txStmts) stmt(ctx context.Context, q string) *sql.Stmt {
	if s := t.bound[q]; s != nil {
		return s
	}
	s := t.cached(ctx, q)
	if s == nil {
		return nil
	}
	if t.bound == nil {
		t.bound = make(map[string]*sql.Stmt)
	}
	bs := t.tx.StmtContext(ctx, s)
	t.bound[q] = bs
	return bs
}

func (t *txStmts) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if s := t.stmt(ctx, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

func (t *txStmts) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if s := t.stmt(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, q, args...)
}

func (t *txStmts) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if s := t.stmt(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

// PrepareContext returns q prepared for the transaction, for the caller to
// close: the cached statement bound to it (closing it leaves the cached
// one), or a fresh one.
func (t *txStmts) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	if s := t.cached(ctx, q); s != nil {
		return t.tx.StmtContext(ctx, s), nil
	}
	return t.tx.PrepareContext(ctx, q)
}

// readQ runs a read transaction's queries through the readers' prepared
// statements.
func (u *userDB) readQ(tx *sql.Tx) *txStmts { return &txStmts{tx: tx, cache: u.rstmts} }

// dbStmts runs single queries on a cache's database, prepared: a querier
// for reads outside a transaction.
type dbStmts struct{ c *stmtCache }

func (d dbStmts) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if s := d.c.prepare(ctx, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return d.c.db.ExecContext(ctx, q, args...)
}

func (d dbStmts) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if s := d.c.prepare(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return d.c.db.QueryContext(ctx, q, args...)
}

func (d dbStmts) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if s := d.c.prepare(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return d.c.db.QueryRowContext(ctx, q, args...)
}

// reads runs single reads outside a transaction on the readers, prepared
// once per open store: the mailbox lookups every APPEND and delivery makes
// before its transaction.
func (u *userDB) reads() dbStmts { return dbStmts{u.rstmts} }
