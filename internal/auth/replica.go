package auth

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Replication of accounts between servers (docs/replication.md).
//
// Every record carries a stamp: a local change takes max(now in Unix
// nanoseconds, highest stamp seen here + 1), and applying a peer's record
// raises "highest seen" to its stamp. So stamps follow the clock when the
// clocks agree, and a change made after seeing another (on any replica)
// always has the larger stamp whatever the clocks say: a hybrid logical
// clock. A delete leaves a tombstone with its stamp, so an older record
// from a peer that had not yet seen the delete does not bring it back.
//
// Between two versions of one name the larger stamp wins; at equal
// stamps a deletion beats a live record, and between two live records the
// larger hash string wins. The order depends only on the records, so
// every replica settles on the same one.

// Record is the replicated state of one account name.
type Record struct {
	Name    string
	Stamp   int64
	Deleted bool
	Hash    string // PHC string; empty when Deleted
	Created int64  // Unix seconds; 0 when Deleted
}

// Newer reports whether r wins over o (same name) by the rule above.
func (r Record) Newer(o Record) bool {
	if c := cmp.Compare(r.Stamp, o.Stamp); c != 0 {
		return c > 0
	}
	if r.Deleted != o.Deleted {
		return r.Deleted
	}
	return r.Hash > o.Hash
}

// nextStamp allocates the stamp of a local change and records it as the
// highest seen.
func (a *Accounts) nextStamp(tx *sql.Tx) (int64, error) {
	var seen int64
	if err := tx.QueryRow(`SELECT stamp FROM account_clock WHERE id = 1`).Scan(&seen); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	stamp := max(a.opts.Now().UnixNano(), seen+1)
	_, err := tx.Exec(`INSERT INTO account_clock(id, stamp) VALUES (1, ?)
		ON CONFLICT(id) DO UPDATE SET stamp = max(stamp, excluded.stamp)`, stamp)
	return stamp, err
}

// Records returns every account and tombstone, ordered by name. A
// replication peer compares them with its own.
func (a *Accounts) Records(ctx context.Context) ([]Record, error) {
	rows, err := a.db.QueryContext(ctx, `SELECT name, stamp, 0, password_hash, created_unix FROM accounts
		UNION ALL SELECT name, stamp, 1, '', 0 FROM account_tombstones ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("auth: records: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		if err := rows.Scan(&r.Name, &r.Stamp, &r.Deleted, &r.Hash, &r.Created); err != nil {
			return nil, fmt.Errorf("auth: records: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auth: records: %w", err)
	}
	return out, nil
}

// Apply takes a peer's records: each one that is newer than what is held
// here for its name (or whose name is unknown here) replaces it, in one
// durable transaction. It returns how many were applied. Applying a
// record twice, or an older one, changes nothing.
func (a *Accounts) Apply(ctx context.Context, recs []Record) (int, error) {
	for _, r := range recs {
		if n, err := NormalizeName(r.Name); err != nil || n != r.Name {
			return 0, fmt.Errorf("auth: apply: invalid name %q", r.Name)
		}
		if !r.Deleted {
			if _, err := parsePHC(r.Hash); err != nil {
				return 0, fmt.Errorf("auth: apply %s: %w", r.Name, err)
			}
		}
	}
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("auth: apply: %w", err)
	}
	defer tx.Rollback()
	n := 0
	var top int64
	for _, r := range recs {
		top = max(top, r.Stamp)
		cur, ok, err := currentRecord(tx, r.Name)
		if err != nil {
			return 0, fmt.Errorf("auth: apply %s: %w", r.Name, err)
		}
		if ok && !r.Newer(cur) {
			continue
		}
		if r.Deleted {
			_, err = tx.Exec(`DELETE FROM accounts WHERE name = ?`, r.Name)
			if err == nil {
				_, err = tx.Exec(`INSERT INTO account_tombstones(name, stamp) VALUES (?, ?)
					ON CONFLICT(name) DO UPDATE SET stamp = excluded.stamp`, r.Name, r.Stamp)
			}
		} else {
			_, err = tx.Exec(`DELETE FROM account_tombstones WHERE name = ?`, r.Name)
			if err == nil {
				_, err = tx.Exec(`INSERT INTO accounts(name, password_hash, created_unix, changed_unix, stamp)
					VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET
					password_hash = excluded.password_hash, changed_unix = excluded.changed_unix, stamp = excluded.stamp`,
					r.Name, r.Hash, r.Created, r.Stamp/1e9, r.Stamp)
			}
		}
		if err != nil {
			return 0, fmt.Errorf("auth: apply %s: %w", r.Name, err)
		}
		a.cache.forget(r.Name)
		n++
	}
	if _, err := tx.Exec(`INSERT INTO account_clock(id, stamp) VALUES (1, ?)
		ON CONFLICT(id) DO UPDATE SET stamp = max(stamp, excluded.stamp)`, top); err != nil {
		return 0, fmt.Errorf("auth: apply: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("auth: apply: %w", err)
	}
	return n, nil
}

// Clock returns the highest stamp seen here: it changes with every local
// or applied change, so a pusher polls it to notice changes made by other
// processes (tidemark user).
func (a *Accounts) Clock(ctx context.Context) (int64, error) {
	var s int64
	err := a.db.QueryRowContext(ctx, `SELECT stamp FROM account_clock WHERE id = 1`).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return s, err
}

// Deleted reports whether name was deleted: it has a tombstone and no
// account. Replication leaves such a user's mail alone (and removes it
// where it is still held), so that a deleted user stays deleted.
func (a *Accounts) Deleted(ctx context.Context, name string) (bool, error) {
	var n int
	err := a.db.QueryRowContext(ctx, `SELECT count(*) FROM account_tombstones t
		WHERE t.name = ? AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.name = t.name)`, name).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("auth: deleted %s: %w", name, err)
	}
	return n > 0, nil
}

func currentRecord(tx *sql.Tx, name string) (Record, bool, error) {
	r := Record{Name: name}
	err := tx.QueryRow(`SELECT stamp, password_hash, created_unix FROM accounts WHERE name = ?`, name).Scan(&r.Stamp, &r.Hash, &r.Created)
	if err == nil {
		return r, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return r, false, err
	}
	r.Deleted = true
	err = tx.QueryRow(`SELECT stamp FROM account_tombstones WHERE name = ?`, name).Scan(&r.Stamp)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, err
}
