package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Options configure a Store.
type Options struct {
	// MaxMessageSize is the largest message Append accepts, in bytes
	// (store.ErrTooBig beyond); 0 means no limit.
	MaxMessageSize int64
	// InlineBodyMax is the largest message body stored inside the user's
	// database, committed with the message rows in one durable write;
	// larger bodies go to blob files, made durable before the commit.
	// 0 means DefaultInlineBodyMax; a negative value stores every body in
	// a file.
	InlineBodyMax int64
	// Hub receives commit notifications; Open creates one if nil.
	Hub *store.Hub
	// ReclaimEvery, when positive, removes the bodies of expunged
	// messages in the background: a pass runs this long after a commit
	// left bodies unreferenced, and a full scan shortly after a user's
	// store is opened and then hourly (reclaim.go has the rule that keeps
	// it safe for readers). Zero leaves them to CollectBlobs. Only one
	// process working on a data directory should set it: tidemark serve.
	ReclaimEvery time.Duration
	// ReclaimMinAge is how long ago a blob file must have been last
	// written for background reclamation to remove it (another process
	// may have written it and not yet committed its message). 0 means
	// DefaultReclaimMinAge; negative means no minimum.
	ReclaimMinAge time.Duration
	// Logger receives what the store does in the background (the poller
	// for other processes' commits); nil discards it.
	Logger *slog.Logger
	// NoTextIndex turns off the text index (configuration [search]
	// text_index = false): appends write no index rows and instead raise
	// meta.text_index_missing_upto past the contents they create, so
	// SEARCH scans them (textindex.go). Turned back on, new messages are
	// indexed again and the older ones scanned until Reindex.
	NoTextIndex bool
	// TextMergeIdle, when positive, merges the text index's segments in
	// the background once a user's database has had no commit for this
	// long, in small write transactions that stop when a commit comes
	// (textmerge.go), so that searches read few segments. Like
	// ReclaimEvery, only tidemark serve sets it.
	TextMergeIdle time.Duration
	// TextIndexBehind leaves the text index rows of an append of several
	// messages (MULTIAPPEND, a batch of an import) to a background indexer
	// of the user's database, which writes them soon after in larger
	// batches; SEARCH stays exact meanwhile by scanning what is not yet
	// indexed (textbehind.go). tidemark serve sets it.
	TextIndexBehind bool
	// Now is the clock that stamps SAVEDATE and the INTERNALDATE of a
	// message appended without one; nil means time.Now. Tests set it so
	// that what they check does not depend on the day they run.
	Now func() time.Time
	// KeepIdle, when positive, keeps a user's database open this long
	// after its last handle closed, so that the next Open (an LMTP
	// delivery, an IMAP login) does not pay again for opening it —
	// SQLite's open, the schema check, the reconcile transaction and its
	// sync, preparing every statement anew — nor for closing it (a
	// checkpoint). At most MaxIdle databases (DefaultMaxIdle when 0) are
	// kept so; beyond that the one idle longest is closed. 0 closes a
	// database with its last handle. tidemark serve sets it.
	KeepIdle time.Duration
	MaxIdle  int
	// Fault is handed to each user's blob store (blob.Store.Fault): called
	// before each blob fsync ("sync") and blob open for reading ("read"),
	// it can fail them. For tests of I/O failures only; nil in a server.
	Fault func(op, path string) error
}

func (o Options) reclaimMinAge() time.Duration {
	if o.ReclaimMinAge == 0 {
		return DefaultReclaimMinAge
	}
	return o.ReclaimMinAge
}

// clock returns the effective clock.
func (o Options) clock() func() time.Time {
	if o.Now == nil {
		return time.Now
	}
	return o.Now
}

// DefaultMaxIdle is the MaxIdle used when Options leaves it 0.
const DefaultMaxIdle = 128

func (o Options) maxIdle() int {
	if o.MaxIdle > 0 {
		return o.MaxIdle
	}
	return DefaultMaxIdle
}

// DefaultInlineBodyMax is the InlineBodyMax used when Options leaves it
// 0. Measured (docs/benchmarks.md, BenchmarkAppendSize): bodies up to about this size append faster
// inline than as files, and larger ones are rare in mail.
const DefaultInlineBodyMax = 64 << 10

// inlineMax returns the effective inline threshold; -1 means none.
func (o Options) inlineMax() int64 {
	switch {
	case o.InlineBodyMax == 0:
		return DefaultInlineBodyMax
	case o.InlineBodyMax < 0:
		return -1
	}
	return o.InlineBodyMax
}

// Store is the embedded backend: a directory of per-user stores. It is
// safe for concurrent use.
type Store struct {
	dir  string
	opts Options
	hub  *store.Hub
	// dirty holds the users whose commits may not be synced yet.
	dirty *dirtySet

	mu    sync.Mutex
	users map[string]*userDB // open user databases by name; guarded by mu
	// opening holds the users whose database is being opened, outside mu
	// so that opening one user's database never waits for another's; a
	// second Open of the same user waits for the channel to close.
	// Guarded by mu.
	opening map[string]chan struct{}
	// idle holds the open databases without handles (Options.KeepIdle),
	// each with when it became idle; guarded by mu.
	idle   map[*userDB]time.Time
	closed bool // guarded by mu

	// aclMu orders changes of access control lists with their markers
	// (acl.go).
	aclMu sync.Mutex
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the store rooted at dir.
func Open(dir string, opts Options) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "users"), 0o700); err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	hub := opts.Hub
	if hub == nil {
		hub = store.NewHub()
	}
	return &Store{dir: dir, opts: opts, hub: hub, dirty: newDirtySet(), users: make(map[string]*userDB),
		opening: make(map[string]chan struct{}), idle: make(map[*userDB]time.Time)}, nil
}

// Dir returns the directory the store is rooted at.
func (s *Store) Dir() string { return s.dir }

// Hub returns the hub commits are published on.
func (s *Store) Hub() *store.Hub { return s.hub }

func (s *Store) userDir(name string) string { return filepath.Join(s.dir, "users", name) }

// CreateUser makes an empty store with an INBOX. The user directory is
// built under a temporary name and renamed into place, so a crash never
// leaves half a user.
func (s *Store) CreateUser(ctx context.Context, user string) error {
	name, err := ValidUserName(user)
	if err != nil {
		return fmt.Errorf("create user: %w: %w", store.ErrCannot, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	final := s.userDir(name)
	if _, err := os.Stat(final); err == nil {
		return fmt.Errorf("create user %q: %w", name, store.ErrUserExists)
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.dir, "users"), ".create-"+name+"-")
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	defer os.RemoveAll(tmp)
	u, err := openUserDB(ctx, name, tmp, s.opts, s.hub, s.dirty)
	if err != nil {
		return fmt.Errorf("create user %q: %w", name, err)
	}
	if err := u.close(); err != nil {
		return fmt.Errorf("create user %q: %w", name, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) || isNotEmpty(err) {
			return fmt.Errorf("create user %q: %w", name, store.ErrUserExists)
		}
		return fmt.Errorf("create user: %w", err)
	}
	return syncDir(filepath.Join(s.dir, "users"))
}

// DeleteUser removes a user's store. It fails with store.ErrCannot while
// handles on the user are open.
func (s *Store) DeleteUser(ctx context.Context, user string) error {
	name, err := ValidUserName(user)
	if err != nil {
		return fmt.Errorf("delete user: %w: %w", store.ErrNoUser, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	if u, open := s.users[name]; open && u.refs > 0 || s.opening[name] != nil {
		return fmt.Errorf("delete user %q: handles still open: %w", name, store.ErrCannot)
	} else if open {
		// Kept open without handles (Options.KeepIdle): closed first.
		s.dropIdleLocked(u)
		delete(s.users, name)
		if err := u.close(); err != nil {
			return fmt.Errorf("delete user %q: %w", name, err)
		}
	}
	dir := s.userDir(name)
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("delete user %q: %w", name, store.ErrNoUser)
	}
	// Rename first so that the user disappears atomically; the removal of
	// the renamed tree may be interrupted without harm (Users skips
	// dot-names).
	trash, err := os.MkdirTemp(filepath.Join(s.dir, "users"), ".delete-")
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	gone := filepath.Join(trash, name)
	if err := os.Rename(dir, gone); err != nil {
		os.Remove(trash)
		return fmt.Errorf("delete user: %w", err)
	}
	if err := syncDir(filepath.Join(s.dir, "users")); err != nil {
		return err
	}
	if err := s.forgetGrantee(name); err != nil {
		return err
	}
	return os.RemoveAll(trash)
}

// Users lists user names in ascending order.
func (s *Store) Users(ctx context.Context) ([]string, error) {
	es, err := os.ReadDir(filepath.Join(s.dir, "users"))
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	var out []string
	for _, e := range es {
		if n, err := ValidUserName(e.Name()); err == nil && e.IsDir() && n == e.Name() {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Open returns a handle on a user's store. Handles on one user share one
// database; the last Close closes it.
func (s *Store) Open(ctx context.Context, user string) (store.Account, error) {
	return s.openAccount(ctx, user)
}

func (s *Store) openAccount(ctx context.Context, user string) (*Account, error) {
	u, err := s.acquire(ctx, user)
	if err != nil {
		return nil, err
	}
	return &Account{s: s, u: u}, nil
}

// acquire returns the user's open database, opening it if needed, with one
// more reference. The opening itself runs outside mu: opening a database
// runs a transaction and syncs it, and Opens of other users (concurrent
// LMTP deliveries) must not queue behind it.
func (s *Store) acquire(ctx context.Context, user string) (*userDB, error) {
	name, err := ValidUserName(user)
	if err != nil {
		return nil, fmt.Errorf("open user: %w: %w", store.ErrNoUser, err)
	}
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, errClosed
		}
		if u := s.users[name]; u != nil {
			if !u.deleted() {
				if u.refs == 0 {
					s.dropIdleLocked(u)
				}
				u.refs++
				s.mu.Unlock()
				return u, nil
			}
			// Deleted by another process since it was opened: its handles
			// keep it until they close, but the name's next owner gets a
			// database of its own.
			delete(s.users, name)
			if u.refs == 0 {
				s.dropIdleLocked(u)
				u.close()
			}
			u.announceDeleted()
		}
		if wait := s.opening[name]; wait != nil {
			s.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		s.opening[name] = done
		s.mu.Unlock()

		u, err := s.openUser(ctx, name)
		s.mu.Lock()
		delete(s.opening, name)
		close(done)
		if err == nil && s.closed {
			u.close()
			err = errClosed
		}
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		u.refs = 1
		s.users[name] = u
		s.mu.Unlock()
		return u, nil
	}
}

// openUser opens a user's database and starts its background work.
func (s *Store) openUser(ctx context.Context, name string) (*userDB, error) {
	dir := s.userDir(name)
	ident, err := os.Stat(dir)
	if err != nil || !ident.IsDir() {
		return nil, fmt.Errorf("open user %q: %w", name, store.ErrNoUser)
	}
	u, err := openUserDB(ctx, name, dir, s.opts, s.hub, s.dirty)
	if err != nil {
		return nil, fmt.Errorf("open user %q: %w", name, err)
	}
	u.ident = ident // before the poller that reads it starts
	if u.textBehind {
		u.startIndexer() // before the poller, which wakes it
	}
	if err := u.startForeignWatch(ctx); err != nil {
		u.close()
		return nil, fmt.Errorf("open user %q: %w", name, err)
	}
	if s.opts.ReclaimEvery > 0 {
		u.startReclaim(s.opts.ReclaimEvery, s.opts.reclaimMinAge())
	}
	if s.opts.TextMergeIdle > 0 {
		u.startTextMerge(s.opts.TextMergeIdle)
	}
	return u, nil
}

func (s *Store) release(u *userDB) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u.refs--
	if u.refs > 0 {
		return nil
	}
	if s.opts.KeepIdle > 0 && !s.closed && s.users[u.name] == u && !u.deleted() {
		s.keepIdleLocked(u)
		return nil
	}
	if s.users[u.name] == u {
		delete(s.users, u.name)
	}
	return u.close()
}

// keepIdleLocked keeps u open without handles for Options.KeepIdle, closing
// the database idle longest when more than MaxIdle are. mu is held.
func (s *Store) keepIdleLocked(u *userDB) {
	now := time.Now()
	s.idle[u] = now
	u.idle.Store(true)
	u.idleGen++
	gen := u.idleGen
	u.idleTimer = time.AfterFunc(s.opts.KeepIdle, func() { s.closeIdle(u, gen) })
	if len(s.idle) <= s.opts.maxIdle() {
		return
	}
	var oldest *userDB
	for v, since := range s.idle {
		if oldest == nil || since.Before(s.idle[oldest]) {
			oldest = v
		}
	}
	s.dropIdleLocked(oldest)
	delete(s.users, oldest.name)
	oldest.close()
}

// dropIdleLocked takes u out of the idle set (it is being used again or
// closed). mu is held.
func (s *Store) dropIdleLocked(u *userDB) {
	delete(s.idle, u)
	u.idle.Store(false)
	u.idleGen++ // a timer already firing finds it changed
	if u.idleTimer != nil {
		u.idleTimer.Stop()
		u.idleTimer = nil
	}
}

// closeIdle closes u if it is still idle since the time numbered gen.
func (s *Store) closeIdle(u *userDB, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.refs != 0 || u.idleGen != gen || s.users[u.name] != u {
		return
	}
	if u.indexing() && !u.deleted() {
		// Left open until the text index has caught up with what the
		// user appended (textbehind.go).
		u.idleTimer = time.AfterFunc(s.opts.KeepIdle, func() { s.closeIdle(u, gen) })
		return
	}
	s.dropIdleLocked(u)
	delete(s.users, u.name)
	u.close()
}

// Close closes every open user database. Handles still open become
// unusable.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var first error
	for name, u := range s.users {
		if u.refs == 0 {
			s.dropIdleLocked(u)
		}
		if err := u.close(); err != nil && first == nil {
			first = err
		}
		delete(s.users, name)
	}
	return first
}

// CollectBlobs removes now the user's bodies (inline or files, of any
// age) that no message references, and stale temporary files, and
// returns how many bodies it removed. It waits for this process's readers
// that may still read them and for appends in progress. Unlike the
// background reclamation (Options.ReclaimEvery) it does not spare young
// files, so no other process may be appending to the user meanwhile.
func (s *Store) CollectBlobs(ctx context.Context, user string) (removed int, err error) {
	st, err := s.Reclaim(ctx, user, -1)
	return st.Bodies, err
}

// Reclaim runs a full reclamation pass for a user now (see
// Options.ReclaimEvery); files last written less than minAge ago are kept
// (negative: none is).
func (s *Store) Reclaim(ctx context.Context, user string, minAge time.Duration) (ReclaimStats, error) {
	u, err := s.acquire(ctx, user)
	if err != nil {
		return ReclaimStats{}, err
	}
	defer s.release(u)
	return u.reclaim(ctx, true, minAge)
}

var errClosed = errors.New("sqlitestore: store closed")

func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	return nil
}
