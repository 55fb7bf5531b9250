package auth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ImportedMark is the file beside accounts.db that records that its
// records were imported into shared accounts (ImportFile).
const ImportedMark = DBFile + ".imported"

// ImportFile moves the records of dataDir's accounts.db, if there is one
// that was not imported yet, into a: the step from accounts kept per node
// to accounts shared through PostgreSQL. It is Apply, so the replication
// rule decides: a record the shared accounts already hold with a later
// change (a password changed since, a delete) stays as it is, and
// importing twice, or from several nodes at once (each an Apply, which
// are serialized), gives the same accounts whatever the order. Afterwards
// it writes ImportedMark, so a later start does not import again; the
// file itself is left alone (it is the node's copy from before the
// move). It returns how many records changed a.
func (a *Accounts) ImportFile(ctx context.Context, dataDir string) (int, error) {
	src := filepath.Join(dataDir, DBFile)
	mark := filepath.Join(dataDir, ImportedMark)
	if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if _, err := os.Stat(mark); err == nil {
		return 0, nil
	}
	db, err := openDB(dataDir)
	if err != nil {
		return 0, err
	}
	recs, err := sqliteRecords{db}.all(ctx)
	db.Close()
	if err != nil {
		return 0, fmt.Errorf("auth: import %s: %w", src, err)
	}
	n, err := a.Apply(ctx, recs)
	if err != nil {
		return 0, fmt.Errorf("auth: import %s: %w", src, err)
	}
	if err := writeMark(mark, fmt.Sprintf("%d records of %s imported at %s\n", len(recs), DBFile, a.opts.Now().UTC().Format(time.RFC3339))); err != nil {
		return n, fmt.Errorf("auth: import %s: %w", src, err)
	}
	return n, nil
}

// writeMark writes the file durably: written, fsynced, then its
// directory fsynced, so a crash never leaves a mark without the import
// it records (the import committed first).
func writeMark(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
