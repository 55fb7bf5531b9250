package sqlitestore

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// codedErr has the Code method of the SQLite driver's errors.
type codedErr int

func (c codedErr) Error() string { return fmt.Sprintf("sqlite error (%d)", int(c)) }
func (c codedErr) Code() int     { return int(c) }

func TestStorageErr(t *testing.T) {
	other := errors.New("something else")
	for _, tc := range []struct {
		name string
		err  error
		want error // nil: returned unchanged
	}{
		{"ENOSPC from a file", fmt.Errorf("blob: %w", &fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}), store.ErrNoSpace},
		{"EDQUOT", &fs.PathError{Op: "write", Path: "x", Err: syscall.EDQUOT}, store.ErrNoSpace},
		{"SQLITE_FULL", fmt.Errorf("commit: %w", codedErr(13)), store.ErrNoSpace},
		{"EIO from an fsync", &fs.PathError{Op: "sync", Path: "x", Err: syscall.EIO}, store.ErrIO},
		{"SQLITE_IOERR_FSYNC (extended)", codedErr(10 | 4<<8), store.ErrIO},
		{"SQLITE_BUSY", codedErr(5), nil},
		{"another error", other, nil},
		{"a store error", store.ErrTooBig, nil},
	} {
		got := storageErr(tc.err)
		if tc.want == nil {
			if got != tc.err {
				t.Errorf("%s: %v, want it unchanged", tc.name, got)
			}
			continue
		}
		if !errors.Is(got, tc.want) || !errors.Is(got, tc.err) {
			t.Errorf("%s: %v, want %v wrapping the cause", tc.name, got, tc.want)
		}
		if again := storageErr(got); again != got {
			t.Errorf("%s: marked twice: %v", tc.name, again)
		}
	}
	if storageErr(nil) != nil {
		t.Error("nil became an error")
	}
}
