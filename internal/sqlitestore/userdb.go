package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/tidemark-mail/tidemark/internal/blob"
	"github.com/tidemark-mail/tidemark/internal/contentmap"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// userDB is one user's open store, shared by every Account handle on the
// user.
type userDB struct {
	name  string
	dir   string
	hub   *store.Hub
	blobs *blob.Store
	// maxSize is the largest message accepted (0: no limit); inlineMax
	// the largest body stored in the bodies table (-1: none).
	maxSize, inlineMax int64
	// noText is Options.NoTextIndex, textBehind Options.TextIndexBehind.
	noText, textBehind bool
	// ix is the background indexer (textbehind.go); nil unless textBehind.
	// appending counts the appends under way and lastAppend is when the
	// last ended (UnixNano): the indexer gives way to them.
	ix         *indexer
	appending  atomic.Int32
	lastAppend atomic.Int64
	// now is Options.Now (or time.Now): SAVEDATE and default INTERNALDATE.
	now func() time.Time
	w   *sql.DB // the single writer connection; transactions BEGIN IMMEDIATE
	r   *sql.DB // reader connections, query_only
	// ckpt copies the WAL into the database in the background
	// (checkpoint.go).
	ckpt *checkpointer
	// bodyByID reads one inline body. Prepared once on r, so reading a
	// mailbox's bodies (FETCH BODY[], SEARCH TEXT) parses the statement
	// once per connection instead of once per message.
	bodyByID *sql.Stmt
	refs     int // open handles; guarded by Store.mu
	// idleGen numbers the times u was kept open without handles, and
	// idleTimer closes it when it stays so (Options.KeepIdle); both
	// guarded by Store.mu. idle is set meanwhile, for the poller of other
	// processes' commits, which pauses.
	idleGen   uint64
	idleTimer *time.Timer
	idle      atomic.Bool
	// ident is the user directory as opened; a directory at the same path
	// that is not the same file (os.SameFile) means the store was deleted,
	// and perhaps created anew, by another process. gone records that.
	ident os.FileInfo
	gone  atomic.Bool
	kw    *kwCache
	log   *slog.Logger  // never nil
	watch *foreignWatch // nil while reconcile runs and for a user being created

	// writeMu serializes write transactions (one writer per user) and
	// guards man and dbFloor.
	writeMu sync.Mutex
	// queue holds the writes waiting for writeMu, for the next holder to
	// run in one transaction (tx.go, write); guarded by queueMu.
	queueMu sync.Mutex
	queue   []*writeReq
	// started counts the write transactions that began to commit, commits
	// those whose commit returned (both set under writeMu; a commit's
	// number is its value of started), and synced the last commit known
	// durable (durable.go). Tests and benchmarks compare commits to the
	// writes they carried.
	started, commits, synced atomic.Uint64
	// syncs counts the syncs of the WAL, for tests.
	syncs atomic.Uint64
	// syncMu serializes syncs of the WAL; syncErr, guarded by it, is the
	// first that failed.
	syncMu  sync.Mutex
	syncErr error
	// syncedWake is closed, under syncedWakeMu, when synced moves: it
	// wakes callers waiting for other writers' syncs (awaitSynced).
	syncedWakeMu sync.Mutex
	syncedWake   chan struct{}
	// dirty is the store's set of users with unsynced commits.
	dirty *dirtySet
	// dbPath is the database file (its WAL is dbPath + "-wal").
	dbPath  string
	man     manifest // as on disk
	dbFloor uint64   // meta.modseq_floor as committed

	// gcMu keeps blob collection away from appends: Append holds it shared
	// from its first blob write until its transaction ends, collection
	// holds it exclusively.
	gcMu sync.RWMutex

	// rc decides when the bodies of expunged messages may go (reclaim.go).
	rc *reclaimer

	// wstmts and rstmts are the prepared statements of write and read
	// transactions (stmtcache.go).
	wstmts, rstmts *stmtCache

	// cmaps holds the content maps of the mailboxes searched last
	// (textmap.go).
	cmaps contentmap.Cache
	// previews holds the previews FETCH computed (previewcache.go).
	previews previewCache
	// tm is the background merge of the text index (textmerge.go).
	tm textMerger
}

func dsn(path string, reader bool) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	// NORMAL: a commit does not fsync the WAL; the store does, once for
	// every commit ready (durable.go).
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	// A page cache large enough that a big transaction (a STORE over a
	// whole mailbox) does not spill dirty pages to the WAL before commit.
	q.Add("_pragma", "cache_size(-65536)")
	if reader {
		q.Add("_pragma", "query_only(1)")
		q.Set("_txlock", "deferred")
	} else {
		q.Set("_txlock", "immediate")
		// Checkpoints run in the background (checkpoint.go); the
		// writer's own is the fallback.
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", ckptFallbackPages))
		q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", walSizeLimit))
	}
	return "file:" + path + "?" + q.Encode()
}

func openUserDB(ctx context.Context, name, dir string, opts Options, hub *store.Hub, dirty *dirtySet) (*userDB, error) {
	blobs, err := blob.New(filepath.Join(dir, "blobs"), opts.MaxMessageSize)
	if err != nil {
		return nil, err
	}
	blobs.Fault = opts.Fault
	path := filepath.Join(dir, "meta.db")
	// The database holds message bodies: create it 0600 before SQLite
	// does (with the umask's 0644); SQLite gives its -wal and -shm files
	// the database file's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	f.Close()
	w, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxIdleConns(4)
	bodyByID, err := r.PrepareContext(ctx, `SELECT data FROM bodies WHERE id = ?`)
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("prepare body read: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ckpt, err := startCheckpointer(path, log)
	if err != nil {
		bodyByID.Close()
		r.Close()
		w.Close()
		return nil, err
	}
	u := &userDB{ckpt: ckpt, cmaps: contentmap.Cache{Max: maxContentMaps}, dirty: dirty, dbPath: path, wstmts: newStmtCache(w), rstmts: newStmtCache(r), bodyByID: bodyByID, name: name, dir: dir, hub: hub, blobs: blobs, w: w, r: r, kw: newKWCache(),
		maxSize: opts.MaxMessageSize, inlineMax: opts.inlineMax(), noText: opts.NoTextIndex, textBehind: opts.TextIndexBehind && !opts.NoTextIndex, now: opts.clock(), log: log, rc: newReclaimer()}
	if err := u.reconcile(ctx); err != nil {
		u.close()
		return nil, err
	}
	return u, nil
}

// deleted reports whether the user's store was deleted since u was
// opened: already known, or its directory is no longer the one opened.
// One stat, done before each write and by the foreign-commit poller.
func (u *userDB) deleted() bool {
	if u.gone.Load() {
		return true
	}
	if u.ident == nil {
		return false
	}
	st, err := os.Stat(u.dir)
	if err == nil && os.SameFile(st, u.ident) {
		return false
	}
	u.gone.Store(true)
	return true
}

// errDeleted is what a handle on a deleted store answers.
func (u *userDB) errDeleted() error {
	return fmt.Errorf("user %q: %w", u.name, store.ErrUserDeleted)
}

func (u *userDB) close() error {
	u.stopIndexer()
	u.dirty.forget(u)
	u.rc.stop()
	u.tm.stop()
	if u.watch != nil {
		u.watch.stop()
	}
	u.ckpt.close()
	u.bodyByID.Close()
	u.wstmts.close()
	u.rstmts.close()
	err1 := u.r.Close()
	err2 := u.w.Close()
	if err1 != nil {
		return err1
	}
	return err2
}

// reconcile runs when a user's database is opened: it makes sure INBOX
// exists and that the database agrees with the manifest's modseq floor,
// raising every mailbox above it when it does not (see the package doc).
func (u *userDB) reconcile(ctx context.Context) error {
	man, manOK, err := readManifest(u.dir)
	if err != nil {
		return err
	}
	u.writeMu.Lock()
	u.man = man
	u.writeMu.Unlock()
	return u.write(ctx, func(t *writeTx) error {
		var dbFloor uint64
		err := t.tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'modseq_floor'`).Scan(&dbFloor)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		u.dbFloor = dbFloor
		var maxHMS uint64
		if err := t.tx.QueryRowContext(ctx, `SELECT coalesce(max(highestmodseq), 0) FROM mailboxes`).Scan(&maxHMS); err != nil {
			return err
		}
		if !manOK {
			// Without a manifest, at least never repeat a UIDVALIDITY the
			// database holds.
			var maxUV uint32
			if err := t.tx.QueryRowContext(ctx, `SELECT coalesce(max(uidvalidity), 0) FROM mailboxes`).Scan(&maxUV); err != nil {
				return err
			}
			t.man.UIDValidityNext = max(t.man.UIDValidityNext, maxUV+1)
		}
		if err := t.startUIDValidityHistory(); err != nil {
			return err
		}
		consistent := manOK && dbFloor != 0 &&
			(dbFloor == man.ModSeqFloor || dbFloor == man.PrevFloor) && maxHMS < dbFloor
		if _, err := t.lookup("INBOX"); err == errNotFound {
			if _, err := t.createMailbox("INBOX", ""); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if consistent {
			return nil
		}
		base := maxHMS
		if manOK {
			// The database is older than the manifest: restored or rebuilt.
			base = max(base, man.ModSeqFloor)
			if err := t.raiseAll(base); err != nil {
				return err
			}
		}
		return t.setFloor(base + reservationStep)
	})
}

// raiseAll lifts every mailbox to HIGHESTMODSEQ floor with a new
// UIDVALIDITY: clients must resynchronize from scratch, and no modseq they
// saw can be repeated.
func (t *writeTx) raiseAll(floor uint64) error {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT id, name FROM mailboxes`)
	if err != nil {
		return err
	}
	var ids []store.MailboxID
	var names []string
	for rows.Next() {
		var id store.MailboxID
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
		names = append(names, name)
	}
	rows.Close()
	for i, id := range ids {
		uv := t.uidValidity()
		if _, err := t.tx.ExecContext(t.ctx, `UPDATE mailboxes SET uidvalidity = ?, highestmodseq = max(highestmodseq, ?), pruned_below = 0 WHERE id = ?`, uv, floor, id); err != nil {
			return err
		}
		if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM tombstones WHERE mailbox_id = ?`, id); err != nil {
			return err
		}
		if err := t.recordUIDValidity(names[i], uv); err != nil {
			return err
		}
		t.touched[id] = store.ModSeq(floor)
	}
	// A restored database may lack history recorded after the backup.
	return t.setUIDValidityHistoryFrom(t.man.UIDValidityNext)
}
