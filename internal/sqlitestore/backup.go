package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tidemark-mail/tidemark/internal/blob"
)

// Backups.
//
// A backup of a user is a directory laid out like a data directory
// (users/NAME/meta.db, users/NAME/blobs/, users/NAME/manifest.json), so
// that `tidemark check --data BACKUP` verifies it. It is taken online,
// next to a running server:
//
//  1. every blob file present is copied (blobs are immutable);
//  2. meta.db is copied with VACUUM INTO, one read transaction: a
//     consistent snapshot that does not stop writers (WAL);
//  3. the blob files the snapshot references and step 1 did not see
//     (written meanwhile) are copied; one that is gone was collected after
//     its message was expunged, and the backup fails (run it again);
//  4. the manifest is copied last: it is written before every commit that
//     passes its floor, so its floor is above every modseq in the snapshot.
//
// A restore never brings back numbers a client may have seen after the
// backup was taken: it writes the user's manifest with a modseq floor
// above both the backup's and the live one's (when the data directory
// still has it) and a UIDVALIDITY counter at least the current time, so
// the database no longer agrees with its manifest. Opening it then (as
// RestoreUser does) runs the store's recovery for a database older than its
// manifest (reconcile, raiseAll): every mailbox gets a new UIDVALIDITY and a
// HIGHESTMODSEQ above the floor, and its old tombstones are dropped.
// Clients see a new UIDVALIDITY and resynchronize from scratch.

// BackupStats says what a backup copied.
type BackupStats struct {
	Blobs     int   // blob files copied
	BlobBytes int64 // their bytes
	DBBytes   int64 // the size of the database copy
}

// BackupUser copies one user's store from the data directory dataDir into
// the backup directory dest (created as needed; the user's part of it must
// not exist yet).
func BackupUser(ctx context.Context, dataDir, user, dest string) (BackupStats, error) {
	var st BackupStats
	if _, err := ValidUserName(user); err != nil {
		return st, err
	}
	src := filepath.Join(dataDir, "users", user)
	dst := filepath.Join(dest, "users", user)
	if _, err := os.Stat(filepath.Join(src, "meta.db")); err != nil {
		return st, fmt.Errorf("backup %s: %w", user, err)
	}
	if _, err := os.Stat(dst); err == nil {
		return st, fmt.Errorf("backup %s: %s already exists", user, dst)
	}
	if err := os.MkdirAll(filepath.Join(dst, "blobs"), 0o700); err != nil {
		return st, err
	}
	copied := map[string]bool{}
	copyBlob := func(rel string) error {
		n, err := copyFileSynced(filepath.Join(src, "blobs", rel), filepath.Join(dst, "blobs", rel))
		if err != nil {
			return err
		}
		copied[filepath.Base(rel)] = true
		st.Blobs++
		st.BlobBytes += n
		return nil
	}
	// 1. The blob files present now.
	err := filepath.WalkDir(filepath.Join(src, "blobs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !blob.ValidID(d.Name()) {
			return nil
		}
		rel, _ := filepath.Rel(filepath.Join(src, "blobs"), path)
		if err := copyBlob(rel); errors.Is(err, fs.ErrNotExist) {
			return nil // collected meanwhile: if referenced, step 3 says so
		} else {
			return err
		}
	})
	if err != nil {
		return st, fmt.Errorf("backup %s: blobs: %w", user, err)
	}
	// 2. The database, as of one instant.
	dbCopy := filepath.Join(dst, "meta.db")
	if err := CopyDatabase(ctx, filepath.Join(src, "meta.db"), dbCopy); err != nil {
		return st, fmt.Errorf("backup %s: %w", user, err)
	}
	if fi, err := os.Stat(dbCopy); err == nil {
		st.DBBytes = fi.Size()
	}
	// 3. The blob files that snapshot references and step 1 missed.
	db, err := sql.Open("sqlite", dsn(dbCopy, true))
	if err != nil {
		return st, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT blob_id FROM contents WHERE blob_id NOT IN (SELECT id FROM bodies)`)
	if err != nil {
		return st, fmt.Errorf("backup %s: %w", user, err)
	}
	var missing []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return st, err
		}
		if !copied[id] {
			missing = append(missing, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, err
	}
	for _, id := range missing {
		if !blob.ValidID(id) {
			return st, fmt.Errorf("backup %s: invalid blob id %q in the database", user, id)
		}
		if err := copyBlob(filepath.Join(id[:2], id)); err != nil {
			return st, fmt.Errorf("backup %s: a message file vanished during the backup (collected after an expunge?), run it again: %w", user, err)
		}
	}
	// 4. The manifest, read after the snapshot.
	man, ok, err := readManifest(src)
	if err != nil {
		return st, fmt.Errorf("backup %s: %w", user, err)
	}
	if ok {
		if err := writeManifest(dst, man); err != nil {
			return st, fmt.Errorf("backup %s: %w", user, err)
		}
	}
	return st, syncTree(dst)
}

// CopyDatabase writes a consistent copy of the SQLite database at src to
// dst (VACUUM INTO: one read transaction, writers go on).
func CopyDatabase(ctx context.Context, src, dst string) error {
	q := "file:" + src + "?_pragma=busy_timeout(10000)&_txlock=deferred"
	db, err := sql.Open("sqlite", q)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("copy database: %w", err)
	}
	return os.Chmod(dst, 0o600)
}

// RestoreUser puts a user's backup from the backup directory from into the
// data directory dataDir, replacing the user's store (moved aside to
// DATA/restore-previous/NAME-TIME, not deleted). No server may have the
// user open: stop the server first. It then opens the store once, which
// gives every mailbox a new UIDVALIDITY and raises its HIGHESTMODSEQ above
// every modseq handed out (see the comment at the top of this file).
func RestoreUser(ctx context.Context, from, dataDir, user string) error {
	if _, err := ValidUserName(user); err != nil {
		return err
	}
	src := filepath.Join(from, "users", user)
	live := filepath.Join(dataDir, "users", user)
	if _, err := os.Stat(filepath.Join(src, "meta.db")); err != nil {
		return fmt.Errorf("restore %s: not in the backup: %w", user, err)
	}
	backupMan, _, err := readManifest(src)
	if err != nil {
		return fmt.Errorf("restore %s: %w", user, err)
	}
	liveMan, _, err := readManifest(live)
	if err != nil {
		return fmt.Errorf("restore %s: the live manifest: %w", user, err)
	}
	stage := filepath.Join(dataDir, "users", ".restore-"+user)
	os.RemoveAll(stage)
	if err := os.MkdirAll(filepath.Join(stage, "blobs"), 0o700); err != nil {
		return err
	}
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() || rel == manifestName {
			return nil
		}
		_, err = copyFileSynced(path, filepath.Join(stage, rel))
		return err
	})
	if err != nil {
		return fmt.Errorf("restore %s: %w", user, err)
	}
	// Above everything either manifest knows, and different from the
	// database's own floor, so that opening it raises every mailbox.
	floor := max(backupMan.ModSeqFloor, liveMan.ModSeqFloor) + reservationStep
	man := manifest{Version: 1, ModSeqFloor: floor, PrevFloor: floor,
		UIDValidityNext: max(backupMan.UIDValidityNext, liveMan.UIDValidityNext, uint32(time.Now().Unix()))}
	if err := writeManifest(stage, man); err != nil {
		return fmt.Errorf("restore %s: %w", user, err)
	}
	if err := syncTree(stage); err != nil {
		return err
	}
	if _, err := os.Stat(live); err == nil {
		aside := filepath.Join(dataDir, "restore-previous")
		if err := os.MkdirAll(aside, 0o700); err != nil {
			return err
		}
		if err := os.Rename(live, filepath.Join(aside, fmt.Sprintf("%s-%d", user, time.Now().Unix()))); err != nil {
			return fmt.Errorf("restore %s: moving the current store aside: %w", user, err)
		}
	}
	if err := os.Rename(stage, live); err != nil {
		return fmt.Errorf("restore %s: %w", user, err)
	}
	if err := syncDir(filepath.Join(dataDir, "users")); err != nil {
		return err
	}
	s, err := Open(dataDir, Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	a, err := s.openAccount(ctx, user)
	if err != nil {
		return fmt.Errorf("restore %s: opening the restored store: %w", user, err)
	}
	defer a.Close()
	if err := s.restoreMarkers(ctx, a); err != nil {
		return fmt.Errorf("restore %s: %w", user, err)
	}
	return nil
}

// copyFileSynced copies src to dst (parents created), fsyncing dst.
func copyFileSynced(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return 0, err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// syncTree fsyncs every directory under root, so that the files copied
// into them are durably named.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return syncDir(path)
	})
}
