package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Durability. The writer connection runs with synchronous=NORMAL: a WAL
// commit writes its frames and returns without an fsync (checkpoints still
// sync the WAL before copying it into the database, and the database
// after). The store then makes commits durable itself by syncing the WAL
// file (syncTo): a write returns only after that, unless its caller
// deferred the sync (store.DeferSync) and calls MakeDurable before telling
// anyone. One sync covers every commit written before it began, so
// concurrent writers and the commands one session pipelined share it.
//
// Nobody may learn of a change before it is durable: a reader without the
// DeferSync mark syncs what is committed before its read returns
// (readBarrier), and a session, which reads with the mark, calls
// MakeDurable before its bytes reach the client — including bytes about
// other writers' changes, since MakeDurable syncs every user with
// unsynced commits.

// dirtySet holds the open users with commits that may not be synced yet.
type dirtySet struct {
	syncs atomic.Uint64 // WAL syncs of all users, for WALSyncs
	n     atomic.Int32  // len(users), read without mu
	mu    sync.Mutex
	users map[*userDB]struct{}
}

func newDirtySet() *dirtySet { return &dirtySet{users: make(map[*userDB]struct{})} }

func (d *dirtySet) add(u *userDB) {
	d.mu.Lock()
	if _, ok := d.users[u]; !ok {
		d.users[u] = struct{}{}
		d.n.Store(int32(len(d.users)))
	}
	d.mu.Unlock()
}

// settle removes u once everything it committed is synced.
func (d *dirtySet) settle(u *userDB) {
	d.mu.Lock()
	if u.synced.Load() >= u.started.Load() {
		delete(d.users, u)
		d.n.Store(int32(len(d.users)))
	}
	d.mu.Unlock()
}

// forget drops a user being closed, once its commits are synced.
func (d *dirtySet) forget(u *userDB) {
	u.syncTo(u.started.Load()) // an error was returned to whoever wrote
	d.mu.Lock()
	delete(d.users, u)
	d.n.Store(int32(len(d.users)))
	d.mu.Unlock()
}

func (d *dirtySet) list() []*userDB {
	d.mu.Lock()
	defer d.mu.Unlock()
	us := make([]*userDB, 0, len(d.users))
	for u := range d.users {
		us = append(us, u)
	}
	return us
}

// MakeDurable syncs every user with commits not yet synced
// (store.DeferredSync). Under store.WithSyncPatience it first gives the
// writers of those commits that long to sync them themselves.
func (s *Store) MakeDurable(ctx context.Context) error {
	if s.dirty.n.Load() == 0 {
		return nil
	}
	var patient context.Context
	if p := store.SyncPatience(ctx); p > 0 {
		var cancel context.CancelFunc
		patient, cancel = context.WithTimeout(ctx, p)
		defer cancel()
	}
	var errs []error
	for _, u := range s.dirty.list() {
		if patient != nil {
			u.awaitSynced(patient)
		}
		if err := u.syncCommitted(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

var _ store.DeferredSync = (*Store)(nil)

// WALSyncs counts the syncs of write-ahead logs the store has made since it
// was opened, over all users: what commits cost the disk.
func (s *Store) WALSyncs() uint64 { return s.dirty.syncs.Load() }

// syncCommitted makes every transaction that began committing so far
// durable: one whose commit is still running (seen by a reader between
// SQLite's commit and the counter) is waited for by taking writeMu, which
// its batch holds. Never called with writeMu held.
func (u *userDB) syncCommitted() error {
	target := u.started.Load()
	if u.synced.Load() >= target {
		u.dirty.settle(u)
		return nil
	}
	if u.commits.Load() < target {
		u.writeMu.Lock()
		u.writeMu.Unlock() //nolint:staticcheck // waiting for the batch, nothing to guard
	}
	if err := u.syncTo(target); err != nil {
		return err
	}
	u.dirty.settle(u)
	return nil
}

// awaitSynced returns once every commit begun so far is synced, or when
// ctx ends, whichever comes first. It syncs nothing itself.
func (u *userDB) awaitSynced(ctx context.Context) {
	target := u.started.Load()
	for u.synced.Load() < target {
		u.syncedWakeMu.Lock()
		if u.syncedWake == nil {
			u.syncedWake = make(chan struct{})
		}
		woken := u.syncedWake
		u.syncedWakeMu.Unlock()
		// A sync that finished before the channel was taken woke no one.
		if u.synced.Load() >= target {
			return
		}
		select {
		case <-woken:
		case <-ctx.Done():
			return
		}
	}
}

// readBarrier is deferred by reads: a caller without the DeferSync mark
// may pass on what it read at once, so whatever it could have seen must
// be durable first.
func (u *userDB) readBarrier(ctx context.Context, err *error) {
	if store.SyncDeferred(ctx) || u.synced.Load() >= u.started.Load() {
		return
	}
	if serr := u.syncCommitted(); serr != nil && *err == nil {
		*err = storageErr(serr)
	}
}

// syncTo returns once the commits numbered up to seq are durable, syncing
// the WAL unless a sync that began after them has finished. A sync takes
// every commit finished when it starts. After a failed sync the store
// refuses every later one: the kernel may have dropped the pages it could
// not write, so a later fsync that succeeds would prove nothing.
func (u *userDB) syncTo(seq uint64) error {
	if u.synced.Load() >= seq {
		return nil
	}
	u.syncMu.Lock()
	defer u.syncMu.Unlock()
	if u.syncErr != nil {
		return u.syncErr
	}
	if u.synced.Load() >= seq {
		return nil
	}
	upTo := u.commits.Load()
	if err := syncFile(u.walPath()); err != nil {
		u.syncErr = fmt.Errorf("sync write-ahead log: %w", err)
		return u.syncErr
	}
	u.syncs.Add(1)
	u.dirty.syncs.Add(1)
	if upTo > u.synced.Load() {
		u.synced.Store(upTo)
		u.syncedWakeMu.Lock()
		if u.syncedWake != nil {
			close(u.syncedWake)
			u.syncedWake = nil
		}
		u.syncedWakeMu.Unlock()
	}
	return nil
}

func (u *userDB) walPath() string { return u.dbPath + "-wal" }

// syncFile flushes a file's data to the disk. A missing file has nothing
// to flush: SQLite removes the WAL only after checkpointing all of it into
// the database, which it syncs.
func syncFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return fdatasync(f)
}
