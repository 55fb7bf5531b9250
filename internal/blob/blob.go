// Package blob owns the bytes of messages: a content-addressed store of
// immutable files, one per distinct message content, named by the hex
// SHA-256 of the bytes.
//
// # Layout
//
//	DIR/tmp/put-*            files being written (removed by Collect when stale)
//	DIR/ab/abcdef0123...     one file per blob, fanned out by the first two hex digits
//
// # Write path
//
// Write streams the bytes to a temporary file while hashing them (the
// message is never held in memory) and enforces the size limit; the
// caller may read the file back (to parse it). Commit then makes a whole
// batch durable at once: it renames every file to its content name, then
// fsyncs all the files and each distinct fan-out directory once, several
// at a time, so that the filesystem can merge them into few journal
// commits (a batch of 100 costs little more than one message). When
// Commit returns, every blob of the batch survives a crash. Put is Write
// plus Commit of one.
//
// A crash before Commit returned can leave a file at its content name
// whose bytes never reached the disk. Such a file is not referenced by
// anyone (references are committed only after Commit), and it is never
// trusted: when a Write finds its content name taken, Commit rehashes the
// existing file and fsyncs it and its directory before reusing it,
// replacing it when it does not hash to its name. Writing the same content
// twice is otherwise harmless: the second copy is discarded.
//
// # Collection
//
// Blobs are never removed on the write path. Collect walks the store and
// removes the blobs a caller says are unreferenced; the caller must make
// sure no Put whose reference is not yet committed runs at the same time
// (the metadata store holds a lock for that).
package blob

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Store is a directory of content-addressed blobs. It is safe for
// concurrent use.
type Store struct {
	dir     string
	maxSize int64 // 0 means unlimited

	// dirMu guards creation of fan-out directories so that a new one is
	// fsynced into its parent exactly once.
	dirMu sync.Mutex

	// Fault, when set, is called with op "sync" before each fsync of a
	// blob file and "read" before each open of one for reading, with the
	// file's path; a non-nil error fails that operation as the system call
	// would have. It exists for tests of I/O failures, is set before the
	// store is used, and is nil otherwise.
	Fault func(op, path string) error
}

// fault runs the Fault hook, if any.
func (s *Store) fault(op, path string) error {
	if s.Fault == nil {
		return nil
	}
	return s.Fault(op, path)
}

// New returns the blob store rooted at dir, creating it if needed. Blobs
// larger than maxSize bytes are refused with store.ErrTooBig; maxSize 0
// means no limit.
func New(dir string, maxSize int64) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return &Store{dir: dir, maxSize: maxSize}, nil
}

// Dir returns the store's root directory.
func (s *Store) Dir() string { return s.dir }

// ValidID reports whether id has the form of a blob id: 64 lowercase hex
// digits. Only valid ids are ever turned into paths, so an id can never
// name a file outside the store.
func ValidID(id string) bool {
	if len(id) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func (s *Store) path(id string) string {
	return filepath.Join(s.dir, id[:2], id)
}

// Put writes the bytes r yields and returns their blob id and length. The
// blob is durable when Put returns. If r yields more than the size limit,
// Put returns an error wrapping store.ErrTooBig and leaves nothing behind.
func (s *Store) Put(r io.Reader) (id string, size int64, err error) {
	p, err := s.Write(r)
	if err != nil {
		return "", 0, err
	}
	if err := s.Commit([]*Pending{p}); err != nil {
		return "", 0, err
	}
	return p.ID, p.Size, nil
}

// copyLimited copies r to w, failing with store.ErrTooBig as soon as more
// than the limit has been read.
func (s *Store) copyLimited(w io.Writer, r io.Reader) (int64, error) {
	if s.maxSize <= 0 {
		n, err := io.Copy(w, r)
		if err != nil {
			return n, fmt.Errorf("blob: write: %w", err)
		}
		return n, nil
	}
	n, err := io.Copy(w, io.LimitReader(r, s.maxSize+1))
	if err != nil {
		return n, fmt.Errorf("blob: write: %w", err)
	}
	if n > s.maxSize {
		return n, fmt.Errorf("blob: message larger than %d bytes: %w", s.maxSize, store.ErrTooBig)
	}
	return n, nil
}

// ensureFanout creates DIR/xx if missing and makes its entry durable. It
// costs one stat when the directory exists, which is nearly always.
func (s *Store) ensureFanout(prefix string) error {
	d := filepath.Join(s.dir, prefix)
	if _, err := os.Stat(d); err == nil {
		return nil
	}
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	if err := os.Mkdir(d, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return fmt.Errorf("blob: %w", err)
	}
	return syncDir(s.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blob: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("blob: sync dir: %w", err)
	}
	return nil
}

// File is an open blob. It implements store.Blob.
type File struct {
	*os.File
	size int64
}

// Size returns the blob's length in bytes.
func (f *File) Size() int64 { return f.size }

var _ store.Blob = (*File)(nil)

// Open opens a blob for reading. A missing blob is an error wrapping
// fs.ErrNotExist.
func (s *Store) Open(id string) (*File, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("blob: invalid id %q: %w", id, fs.ErrNotExist)
	}
	if err := s.fault("read", s.path(id)); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	f, err := os.Open(s.path(id))
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blob: %w", err)
	}
	return &File{File: f, size: st.Size()}, nil
}

// Verify rereads a blob and checks that its bytes hash to its id. It
// returns the blob's size.
func (s *Store) Verify(id string) (int64, error) {
	f, err := s.Open(id)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var h hash.Hash = sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return n, fmt.Errorf("blob: read %s: %w", id, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != id {
		return n, fmt.Errorf("blob: %s: content hashes to %s", id, got)
	}
	return n, nil
}

// Has reports whether a blob exists.
func (s *Store) Has(id string) bool {
	if !ValidID(id) {
		return false
	}
	_, err := os.Stat(s.path(id))
	return err == nil
}
