package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresMaxConns bounds the connections the accounts of one process
// open to PostgreSQL, apart from the mail store's pool: logins read one
// row each, so a few connections serve many, and a burst of logins never
// takes the connections mail commands need (nor the other way round).
const PostgresMaxConns = 4

// OpenPostgresAccounts opens the accounts kept in the PostgreSQL database
// dsn (the mail store's default cluster), which every front end shares:
// an account added, re-passworded or deleted through any of them is what
// the next login on every one of them checks. The tables (accounts,
// account_tombstones, account_clock) are made by the PostgreSQL store's
// schema migrations, so the store must have been opened on dsn first.
func OpenPostgresAccounts(ctx context.Context, dsn string, opts Options) (*Accounts, error) {
	if err := opts.withDefaults().Hash.validate(); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	cfg.MaxConns = min(cfg.MaxConns, PostgresMaxConns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	var clock int64
	if err := pool.QueryRow(ctx, `SELECT stamp FROM account_clock WHERE id = 1`).Scan(&clock); err != nil {
		pool.Close()
		return nil, fmt.Errorf("auth: accounts in PostgreSQL: %w", err)
	}
	a, err := newAccounts(pgRecords{pool}, opts)
	if err != nil {
		pool.Close()
	}
	return a, err
}

// pgRecords keeps the records in PostgreSQL. The single row of
// account_clock is also the lock that serializes updates across every
// process: update takes it FOR UPDATE first.
type pgRecords struct{ pool *pgxpool.Pool }

func (p pgRecords) close() error { p.pool.Close(); return nil }

func (p pgRecords) hash(ctx context.Context, name string) (string, error) {
	var rec string
	err := p.pool.QueryRow(ctx, `SELECT password_hash FROM accounts WHERE name = $1`, name).Scan(&rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("%w: %s", ErrNoUser, name)
	}
	return rec, err
}

func (p pgRecords) names(ctx context.Context) ([]string, error) {
	rows, _ := p.pool.Query(ctx, `SELECT name FROM accounts ORDER BY name COLLATE "C"`)
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func (p pgRecords) all(ctx context.Context) ([]Record, error) {
	rows, _ := p.pool.Query(ctx, `SELECT * FROM (
		SELECT name, stamp, false, password_hash, created_unix FROM accounts
		UNION ALL SELECT name, stamp, true, '', 0 FROM account_tombstones) r ORDER BY name COLLATE "C"`)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Record, error) {
		var r Record
		err := row.Scan(&r.Name, &r.Stamp, &r.Deleted, &r.Hash, &r.Created)
		return r, err
	})
}

func (p pgRecords) clock(ctx context.Context) (int64, error) {
	var stamp int64
	err := p.pool.QueryRow(ctx, `SELECT stamp FROM account_clock WHERE id = 1`).Scan(&stamp)
	return stamp, err
}

func (p pgRecords) deleted(ctx context.Context, name string) (bool, error) {
	var d bool
	err := p.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM account_tombstones t WHERE t.name = $1)
		AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.name = $1)`, name).Scan(&d)
	return d, err
}

func (p pgRecords) replaceHash(ctx context.Context, name, oldHash, newHash string) (bool, error) {
	tag, err := p.pool.Exec(ctx, `UPDATE accounts SET password_hash = $1 WHERE name = $2 AND password_hash = $3`,
		newHash, name, oldHash)
	return tag.RowsAffected() == 1, err
}

func (p pgRecords) update(ctx context.Context, fn func(recordTx) error) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		t := &pgTx{ctx: ctx, tx: tx}
		if err := tx.QueryRow(ctx, `SELECT stamp FROM account_clock WHERE id = 1 FOR UPDATE`).Scan(&t.seen); err != nil {
			return err
		}
		return fn(t)
	})
}

type pgTx struct {
	ctx  context.Context
	tx   pgx.Tx
	seen int64 // the clock, read under its lock
}

func (t *pgTx) clock() (int64, error) { return t.seen, nil }

func (t *pgTx) raiseClock(stamp int64) error {
	if stamp <= t.seen {
		return nil
	}
	t.seen = stamp
	_, err := t.tx.Exec(t.ctx, `UPDATE account_clock SET stamp = $1 WHERE id = 1`, stamp)
	return err
}

func (t *pgTx) current(name string) (Record, bool, error) {
	r := Record{Name: name}
	err := t.tx.QueryRow(t.ctx, `SELECT stamp, password_hash, created_unix FROM accounts WHERE name = $1`, name).
		Scan(&r.Stamp, &r.Hash, &r.Created)
	if err == nil {
		return r, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return r, false, err
	}
	r.Deleted = true
	err = t.tx.QueryRow(t.ctx, `SELECT stamp FROM account_tombstones WHERE name = $1`, name).Scan(&r.Stamp)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, err
}

func (t *pgTx) put(r Record, changedUnix int64) error {
	if r.Deleted {
		if _, err := t.tx.Exec(t.ctx, `DELETE FROM accounts WHERE name = $1`, r.Name); err != nil {
			return err
		}
		_, err := t.tx.Exec(t.ctx, `INSERT INTO account_tombstones (name, stamp) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET stamp = excluded.stamp`, r.Name, r.Stamp)
		return err
	}
	if _, err := t.tx.Exec(t.ctx, `DELETE FROM account_tombstones WHERE name = $1`, r.Name); err != nil {
		return err
	}
	_, err := t.tx.Exec(t.ctx, `INSERT INTO accounts (name, password_hash, created_unix, changed_unix, stamp)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET
		password_hash = excluded.password_hash, changed_unix = excluded.changed_unix, stamp = excluded.stamp`,
		r.Name, r.Hash, r.Created, changedUnix, r.Stamp)
	return err
}

func (p pgRecords) peerRecords(ctx context.Context, peer string) ([]Record, bool, error) {
	rows, _ := p.pool.Query(ctx, `SELECT name, stamp, deleted FROM account_peers WHERE peer = $1 ORDER BY name COLLATE "C"`, peer)
	recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Record, error) {
		var r Record
		err := row.Scan(&r.Name, &r.Stamp, &r.Deleted)
		return r, err
	})
	if err != nil {
		return nil, false, err
	}
	known := len(recs) > 0 && recs[0].Name == ""
	if known {
		recs = recs[1:]
	}
	return recs, known, nil
}

func (p pgRecords) setPeerRecords(ctx context.Context, peer string, recs []Record) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM account_peers WHERE peer = $1`, peer); err != nil {
			return err
		}
		names, stamps, deleted := []string{""}, []int64{0}, []bool{false}
		for _, r := range recs {
			names, stamps, deleted = append(names, r.Name), append(stamps, r.Stamp), append(deleted, r.Deleted)
		}
		_, err := tx.Exec(ctx, `INSERT INTO account_peers (peer, name, stamp, deleted)
			SELECT $1, n, s, d FROM unnest($2::text[], $3::bigint[], $4::boolean[]) AS r(n, s, d)`, peer, names, stamps, deleted)
		return err
	})
}

func (p pgRecords) forgetPeer(ctx context.Context, peer string) error {
	_, err := p.pool.Exec(ctx, `DELETE FROM account_peers WHERE peer = $1`, peer)
	return err
}

func (p pgRecords) pruneTombstones(ctx context.Context, before int64) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		// The clock's lock, as every update takes it: a tombstone is not
		// replaced under the prune.
		if _, err := tx.Exec(ctx, `SELECT stamp FROM account_clock WHERE id = 1 FOR UPDATE`); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, pruneTombstonesSQL("$1"), before)
		if err != nil {
			return err
		}
		n = int(tag.RowsAffected())
		_, err = tx.Exec(ctx, dropPrunedPeerRowsSQL)
		return err
	})
	return n, err
}
