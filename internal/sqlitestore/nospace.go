package sqlitestore

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// sqliteFull is SQLITE_FULL, the primary result code SQLite gives when a
// write to the database or its WAL fails for want of space (the unix VFS
// turns ENOSPC into it).
const sqliteFull = 13

// noSpace marks err with store.ErrNoSpace when it comes from a full disk
// or filesystem quota: ENOSPC or EDQUOT from a blob or manifest write, or
// SQLITE_FULL from the database. The write it failed was not made (blob
// files are only referenced by a transaction that commits, the manifest is
// replaced by rename, SQLite rolls the transaction back), so the caller
// may say "try again later" rather than report an internal error.
func noSpace(err error) error {
	if err == nil || errors.Is(err, store.ErrNoSpace) {
		return err
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", store.ErrNoSpace, err)
	}
	var coded interface{ Code() int }
	if errors.As(err, &coded) && coded.Code()&0xff == sqliteFull {
		return fmt.Errorf("%w: %w", store.ErrNoSpace, err)
	}
	return err
}
