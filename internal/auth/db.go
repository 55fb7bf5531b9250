package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DBFile is the accounts database's name inside the data directory.
const DBFile = "accounts.db"

// schemaVersion is stored in PRAGMA user_version.
//
// Version 1, table accounts:
//
//	name           TEXT PRIMARY KEY  canonical user name (ValidName)
//	password_hash  TEXT NOT NULL     argon2id PHC string (see package doc)
//	created_unix   INTEGER NOT NULL  creation time, Unix seconds
//	changed_unix   INTEGER NOT NULL  last SetPassword, Unix seconds
//
// Version 2 adds replication (see replica.go): accounts.stamp, the stamp
// of the record's last change; account_tombstones(name, stamp), deleted
// accounts; account_clock(stamp), the highest stamp seen here.
//
// Version 3 adds account_peers(peer, name, stamp, deleted): per
// replication peer, the records both held when their last full exchange
// ended (replica.go); the row with an empty name marks the peer known.
const schemaVersion = 3

const schemaV1 = `CREATE TABLE IF NOT EXISTS accounts (
	name          TEXT PRIMARY KEY,
	password_hash TEXT NOT NULL,
	created_unix  INTEGER NOT NULL,
	changed_unix  INTEGER NOT NULL
) WITHOUT ROWID`

// schemaV2 is the upgrade from version 1; existing records take their
// change time as their stamp.
const schemaV2 = `ALTER TABLE accounts ADD COLUMN stamp INTEGER NOT NULL DEFAULT 0;
UPDATE accounts SET stamp = changed_unix * 1000000000;
CREATE TABLE IF NOT EXISTS account_tombstones (
	name  TEXT PRIMARY KEY,
	stamp INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS account_clock (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	stamp INTEGER NOT NULL
);
INSERT OR IGNORE INTO account_clock(id, stamp) SELECT 1, coalesce(max(stamp), 0) FROM accounts;`

// schemaV3 is the upgrade from version 2.
const schemaV3 = `CREATE TABLE IF NOT EXISTS account_peers (
	peer    TEXT NOT NULL,
	name    TEXT NOT NULL,
	stamp   INTEGER NOT NULL,
	deleted INTEGER NOT NULL,
	PRIMARY KEY (peer, name)
) WITHOUT ROWID`

// openDB opens DATA/accounts.db. The file is created 0600 before SQLite
// sees it, because SQLite gives its -wal and -shm files the main file's
// mode: password hashes stay readable by the server's user only.
func openDB(dataDir string) (*sql.DB, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: data directory: %w", err)
	}
	// An absolute path keeps the file: URI below from reading a relative
	// directory as its authority.
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	path := filepath.Join(abs, DBFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	f.Close()

	// WAL lets the server read while `tidemark user` writes; synchronous
	// FULL makes every commit durable before Exec returns; busy_timeout
	// makes a writer wait for another process's write instead of failing.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_txlock", "immediate")
	dsn := (&url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("auth: open %s: %w", path, err)
	}
	if err := migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("auth: %s: %w", path, err)
	}
	return db, nil
}

func migrate(db *sql.DB) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return err
	}
	switch {
	case v == schemaVersion:
		return nil
	case v > schemaVersion:
		return fmt.Errorf("schema version %d is newer than this program's %d", v, schemaVersion)
	}
	if v < 1 {
		if _, err := tx.Exec(schemaV1); err != nil {
			return err
		}
	}
	if v < 2 {
		if _, err := tx.Exec(schemaV2); err != nil {
			return err
		}
	}
	if v < 3 {
		if _, err := tx.Exec(schemaV3); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// sqliteRecords keeps the records in DATA/accounts.db.
type sqliteRecords struct{ db *sql.DB }

func (s sqliteRecords) close() error { return s.db.Close() }

func (s sqliteRecords) hash(ctx context.Context, name string) (string, error) {
	var rec string
	err := s.db.QueryRowContext(ctx, `SELECT password_hash FROM accounts WHERE name = ?`, name).Scan(&rec)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: %s", ErrNoUser, name)
	}
	return rec, err
}

func (s sqliteRecords) names(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM accounts ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

func (s sqliteRecords) all(ctx context.Context) ([]Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, stamp, 0, password_hash, created_unix FROM accounts
		UNION ALL SELECT name, stamp, 1, '', 0 FROM account_tombstones ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		if err := rows.Scan(&r.Name, &r.Stamp, &r.Deleted, &r.Hash, &r.Created); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s sqliteRecords) clock(ctx context.Context) (int64, error) { return readClock(ctx, s.db) }

// readClock reads account_clock through a database or a transaction.
func readClock(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int64, error) {
	var stamp int64
	err := q.QueryRowContext(ctx, `SELECT stamp FROM account_clock WHERE id = 1`).Scan(&stamp)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return stamp, err
}

func (s sqliteRecords) deleted(ctx context.Context, name string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM account_tombstones t
		WHERE t.name = ? AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.name = t.name)`, name).Scan(&n)
	return n > 0, err
}

func (s sqliteRecords) replaceHash(ctx context.Context, name, oldHash, newHash string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE accounts SET password_hash = ? WHERE name = ? AND password_hash = ?`,
		newHash, name, oldHash)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// update relies on _txlock=immediate: the transaction takes SQLite's
// write lock at BEGIN, so updates of all processes are serialized.
func (s sqliteRecords) update(ctx context.Context, fn func(recordTx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(sqliteTx{tx}); err != nil {
		return err
	}
	return tx.Commit()
}

type sqliteTx struct{ tx *sql.Tx }

func (t sqliteTx) clock() (int64, error) { return readClock(context.Background(), t.tx) }

func (t sqliteTx) raiseClock(stamp int64) error {
	_, err := t.tx.Exec(`INSERT INTO account_clock(id, stamp) VALUES (1, ?)
		ON CONFLICT(id) DO UPDATE SET stamp = max(stamp, excluded.stamp)`, stamp)
	return err
}

func (t sqliteTx) current(name string) (Record, bool, error) {
	r := Record{Name: name}
	err := t.tx.QueryRow(`SELECT stamp, password_hash, created_unix FROM accounts WHERE name = ?`, name).Scan(&r.Stamp, &r.Hash, &r.Created)
	if err == nil {
		return r, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return r, false, err
	}
	r.Deleted = true
	err = t.tx.QueryRow(`SELECT stamp FROM account_tombstones WHERE name = ?`, name).Scan(&r.Stamp)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, err
}

func (t sqliteTx) put(r Record, changedUnix int64) error {
	if r.Deleted {
		if _, err := t.tx.Exec(`DELETE FROM accounts WHERE name = ?`, r.Name); err != nil {
			return err
		}
		_, err := t.tx.Exec(`INSERT INTO account_tombstones(name, stamp) VALUES (?, ?)
			ON CONFLICT(name) DO UPDATE SET stamp = excluded.stamp`, r.Name, r.Stamp)
		return err
	}
	if _, err := t.tx.Exec(`DELETE FROM account_tombstones WHERE name = ?`, r.Name); err != nil {
		return err
	}
	_, err := t.tx.Exec(`INSERT INTO accounts(name, password_hash, created_unix, changed_unix, stamp)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET
		password_hash = excluded.password_hash, changed_unix = excluded.changed_unix, stamp = excluded.stamp`,
		r.Name, r.Hash, r.Created, changedUnix, r.Stamp)
	return err
}

func (s sqliteRecords) peerRecords(ctx context.Context, peer string) ([]Record, bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, stamp, deleted FROM account_peers WHERE peer = ? ORDER BY name`, peer)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []Record
	known := false
	for rows.Next() {
		var r Record
		if err := rows.Scan(&r.Name, &r.Stamp, &r.Deleted); err != nil {
			return nil, false, err
		}
		if r.Name == "" {
			known = true
			continue
		}
		out = append(out, r)
	}
	return out, known, rows.Err()
}

func (s sqliteRecords) setPeerRecords(ctx context.Context, peer string, recs []Record) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM account_peers WHERE peer = ?`, peer); err != nil {
		return err
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO account_peers (peer, name, stamp, deleted) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, r := range append([]Record{{}}, recs...) {
		if _, err := stmt.ExecContext(ctx, peer, r.Name, r.Stamp, r.Deleted); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s sqliteRecords) forgetPeer(ctx context.Context, peer string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM account_peers WHERE peer = ?`, peer)
	return err
}

func (s sqliteRecords) pruneTombstones(ctx context.Context, before int64) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, pruneTombstonesSQL("?"), before)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, dropPrunedPeerRowsSQL); err != nil {
		return 0, err
	}
	return int(n), tx.Commit()
}
