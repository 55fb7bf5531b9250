package auth

import (
	"database/sql"
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
const schemaVersion = 2

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
	if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}
