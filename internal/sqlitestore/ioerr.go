package sqlitestore

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// SQLite primary result codes for failures of the storage under it.
const (
	sqliteIOErr = 10 // SQLITE_IOERR: a read, write or fsync failed
	sqliteFull  = 13 // SQLITE_FULL: the unix VFS turns ENOSPC into it
)

// storageErr marks err with the backend-neutral kind of a failure of the
// storage under the store, so that callers can answer "try again later"
// rather than report an internal error:
//
//   - store.ErrNoSpace: ENOSPC or EDQUOT from a blob or manifest write,
//     SQLITE_FULL from the database;
//   - store.ErrIO: EIO from a blob read, write or fsync, SQLITE_IOERR.
//
// In both cases the write it failed was not made: blob files are only
// referenced by a transaction that commits, the manifest is replaced by
// rename, and SQLite rolls the transaction back.
func storageErr(err error) error {
	if err == nil || errors.Is(err, store.ErrNoSpace) || errors.Is(err, store.ErrIO) {
		return err
	}
	var coded interface{ Code() int }
	isSQLite := errors.As(err, &coded)
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT),
		isSQLite && coded.Code()&0xff == sqliteFull:
		return fmt.Errorf("%w: %w", store.ErrNoSpace, err)
	case errors.Is(err, syscall.EIO), isSQLite && coded.Code()&0xff == sqliteIOErr:
		return fmt.Errorf("%w: %w", store.ErrIO, err)
	}
	return err
}
