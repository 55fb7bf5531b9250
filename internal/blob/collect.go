package blob

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// staleTemp is how old a temporary file must be before Collect removes it:
// older than any Put could reasonably still be running.
const staleTemp = time.Hour

// CollectStats reports what Collect did.
type CollectStats struct {
	Kept    int   // blobs still referenced
	Removed int   // unreferenced blobs removed
	Freed   int64 // bytes freed, including stale temporary files
}

// Collect removes every blob for which referenced returns false, and
// temporary files left by interrupted Puts. The caller must ensure that no
// Put whose reference has not been committed runs concurrently, or that
// blob could be removed before it is referenced.
func (s *Store) Collect(referenced func(id string) bool) (CollectStats, error) {
	var st CollectStats
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return st, fmt.Errorf("blob: collect: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() {
			continue
		}
		if name == "tmp" {
			if err := s.collectTemp(&st); err != nil {
				return st, err
			}
			continue
		}
		if len(name) != 2 {
			continue
		}
		files, err := os.ReadDir(filepath.Join(s.dir, name))
		if err != nil {
			return st, fmt.Errorf("blob: collect: %w", err)
		}
		removed := false
		for _, f := range files {
			id := f.Name()
			if !ValidID(id) || id[:2] != name {
				continue
			}
			if referenced(id) {
				st.Kept++
				continue
			}
			info, err := f.Info()
			if err == nil {
				st.Freed += info.Size()
			}
			if err := os.Remove(filepath.Join(s.dir, name, id)); err != nil && !os.IsNotExist(err) {
				return st, fmt.Errorf("blob: collect: %w", err)
			}
			st.Removed++
			removed = true
		}
		if removed {
			if err := syncDir(filepath.Join(s.dir, name)); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

func (s *Store) collectTemp(st *CollectStats) error {
	dir := filepath.Join(s.dir, "tmp")
	files, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("blob: collect: %w", err)
	}
	for _, f := range files {
		info, err := f.Info()
		if err != nil || time.Since(info.ModTime()) < staleTemp {
			continue
		}
		if os.Remove(filepath.Join(dir, f.Name())) == nil {
			st.Freed += info.Size()
		}
	}
	return nil
}

// IDs calls fn for every stored blob id.
func (s *Store) IDs(fn func(id string) error) error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || len(e.Name()) != 2 {
			continue
		}
		files, err := os.ReadDir(filepath.Join(s.dir, e.Name()))
		if err != nil {
			return fmt.Errorf("blob: %w", err)
		}
		for _, f := range files {
			if ValidID(f.Name()) {
				if err := fn(f.Name()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Remove removes the blobs among ids whose file was last written (or
// reused by Commit) at least minAge ago, and reports the ones kept
// because they are younger; a negative minAge removes any. A missing
// file is skipped. The caller must know that nothing references ids (see
// Collect); minAge covers another process that has written or reused a
// blob and not yet committed the reference to it.
func (s *Store) Remove(ids []string, minAge time.Duration) (removed int, young []string, freed int64, err error) {
	dirs := make(map[string]bool)
	now := time.Now()
	for _, id := range ids {
		if !ValidID(id) {
			continue
		}
		p := s.path(id)
		info, err := os.Stat(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return removed, young, freed, fmt.Errorf("blob: remove: %w", err)
		}
		if minAge >= 0 && now.Sub(info.ModTime()) < minAge {
			young = append(young, id)
			continue
		}
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return removed, young, freed, fmt.Errorf("blob: remove: %w", err)
		}
		removed++
		freed += info.Size()
		dirs[filepath.Dir(p)] = true
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return removed, young, freed, err
		}
	}
	return removed, young, freed, nil
}

// RemoveStaleTemp removes temporary files left by interrupted writes and
// returns the bytes freed.
func (s *Store) RemoveStaleTemp() (int64, error) {
	var st CollectStats
	err := s.collectTemp(&st)
	return st.Freed, err
}
