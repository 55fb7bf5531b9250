package blob

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Pending is a blob written by Write and not yet committed: its bytes are
// in a temporary file that the caller may read back.
type Pending struct {
	ID   string // hex SHA-256 of the bytes
	Size int64
	f    *os.File
	tmp  string
	done bool
}

// ReaderAt returns the written bytes for reading until Commit or Abort.
func (p *Pending) ReaderAt() io.ReaderAt { return p.f }

// Write streams r to a temporary file while hashing it. Nothing is
// durable or visible under the content name until Commit. If r yields more
// than the size limit, Write returns an error wrapping store.ErrTooBig and
// leaves nothing behind.
func (s *Store) Write(r io.Reader) (*Pending, error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "put-*")
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	h := sha256.New()
	size, err := s.copyLimited(io.MultiWriter(f, h), r)
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &Pending{ID: hex.EncodeToString(h.Sum(nil)), Size: size, f: f, tmp: f.Name()}, nil
}

// Abort discards pending blobs that will not be committed.
func (s *Store) Abort(ps []*Pending) {
	for _, p := range ps {
		if p != nil && !p.done {
			p.f.Close()
			os.Remove(p.tmp)
			p.done = true
		}
	}
}

// syncWorkers is how many fsyncs Commit runs at once.
const syncWorkers = 8

// Commit makes every pending blob durable under its content name (see
// the package doc). On error, the blobs not yet renamed are discarded;
// the others are left for Collect.
func (s *Store) Commit(ps []*Pending) (err error) {
	defer func() {
		if err != nil {
			s.Abort(ps)
		}
	}()
	// First, whatever already sits under a content name.
	type syncTask struct {
		f   *os.File // nil: a directory
		dir string
	}
	var tasks []syncTask
	dirs := make(map[string]bool)
	for _, p := range ps {
		if p.done {
			continue
		}
		final := s.path(p.ID)
		reuse, err := s.existingValid(final, p.Size, p.ID)
		if err != nil {
			return err
		}
		if reuse != nil {
			// Identical content is stored, maybe by a Put still running or
			// one a crash interrupted: sync it too before relying on it.
			p.f.Close()
			os.Remove(p.tmp)
			p.f = reuse
			// A reused file may be an unreferenced one awaiting removal:
			// its new mtime tells Remove it is about to be referenced.
			now := time.Now()
			if err := os.Chtimes(final, now, now); err != nil {
				return fmt.Errorf("blob: %w", err)
			}
		} else {
			if err := s.ensureFanout(p.ID[:2]); err != nil {
				return err
			}
			if err := os.Rename(p.tmp, final); err != nil {
				return fmt.Errorf("blob: rename: %w", err)
			}
		}
		p.done = true
		tasks = append(tasks, syncTask{f: p.f})
		if d := filepath.Dir(final); !dirs[d] {
			dirs[d] = true
			tasks = append(tasks, syncTask{dir: d})
		}
	}
	defer func() {
		for _, t := range tasks {
			if t.f != nil {
				t.f.Close()
			}
		}
	}()
	// Then all the fsyncs, several at a time.
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan syncTask)
	)
	for range min(syncWorkers, len(tasks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range next {
				var err error
				if t.f != nil {
					if err = s.fault("sync", t.f.Name()); err == nil {
						err = t.f.Sync()
					}
					if err != nil {
						err = fmt.Errorf("blob: sync: %w", err)
					}
				} else {
					err = syncDir(t.dir)
				}
				if err != nil {
					mu.Lock()
					first = cmpOr(first, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, t := range tasks {
		next <- t
	}
	close(next)
	wg.Wait()
	return first
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// existingValid opens the file at final when it exists and holds exactly
// the content id names (size, then hash); otherwise it returns nil, and
// the rename that follows replaces a wrong file.
func (s *Store) existingValid(final string, size int64, id string) (*os.File, error) {
	f, err := os.Open(final)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	st, err := f.Stat()
	if err == nil && st.Size() == size {
		h := sha256.New()
		if _, err := io.Copy(h, f); err == nil && hex.EncodeToString(h.Sum(nil)) == id {
			return f, nil
		}
	}
	f.Close()
	// Left behind by a crash before its bytes were durable: replaced by
	// the rename that follows.
	return nil, nil
}
