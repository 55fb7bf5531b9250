package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tidemark-mail/tidemark/internal/contentmap"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Options configure a Store.
type Options struct {
	// MaxMessageSize is the largest message Append accepts, in bytes
	// (store.ErrTooBig beyond); 0 means no limit.
	MaxMessageSize int64
	// Hub receives commit notifications, this node's and (through
	// LISTEN/NOTIFY) every other node's; Open creates one if nil.
	Hub *store.Hub
	// Now is the clock that stamps SAVEDATE and the INTERNALDATE of a
	// message appended without one; nil means time.Now.
	Now func() time.Time
	// ReclaimEvery, when positive, runs a reclamation pass (Reclaim) that
	// often, removing the bytes of messages expunged at least
	// ReclaimGrace ago (DefaultReclaimGrace when 0). Without it, expunged
	// messages' bytes stay until Reclaim is called.
	ReclaimEvery time.Duration
	ReclaimGrace time.Duration
	// NoListen turns off listening for other nodes' commits (for
	// one-shot commands that watch nothing).
	NoListen bool
	// NoTextIndex turns off the text index ([search] text_index =
	// false): appends write no text_index rows and instead raise the
	// user's text_index_state.missing_upto past the contents they create,
	// so SEARCH scans (textindex.go).
	NoTextIndex bool

	// tracer, set by benchmarks and tests, sees every statement and batch the
	// pool's connections send (a round trip each).
	tracer pgx.QueryTracer
	// rowFlags, set by benchmarks, sends every flag change through the
	// general path (a state read, an UPDATE per resulting flag set)
	// instead of setSystemFlags, to compare the two on one database.
	rowFlags bool
}

// DefaultMaxConns is the size of a Store's connection pool unless the DSN
// sets pool_max_conns. Each process also holds one more connection for
// listening.
const DefaultMaxConns = 20

// Store is the PostgreSQL backend: every user's mail in one database,
// shared by any number of Tidemark processes. It is safe for concurrent
// use.
type Store struct {
	pool *pgxpool.Pool
	opts Options
	hub  *store.Hub
	// node identifies this process in notifications, so it ignores its
	// own (already published locally, before the commit returned).
	node string

	mu     sync.Mutex
	open   map[string]int // guarded by mu; open handles per user
	closed bool           // guarded by mu
	// leading holds the release of every role TryLead granted, so that
	// Close gives them up (and returns their connections to the pool).
	leading []func() // guarded by mu

	// seen is the highest modseq this node knows of per mailbox (its own
	// commits and notifications received); after a dropped listening
	// connection, mailboxes whose modseq moved past it are announced.
	seenMu sync.Mutex
	seen   map[mailboxKey]store.ModSeq // guarded by seenMu

	// cmaps holds the content maps of the mailboxes searched last, of
	// any user (mailbox ids are unique in the database): textindex.go.
	cmaps contentmap.Cache

	listenStop  context.CancelFunc
	listenDone  chan struct{}
	reclaimStop context.CancelFunc
	reclaimDone chan struct{}
	// Notifications received from other nodes and reconnections of the
	// listener, for tests and metrics.
	received   atomic.Int64
	reconnects atomic.Int64
	// beforeReconnect, when set (by tests), runs before each
	// reconnection of the listener.
	beforeReconnect atomic.Pointer[func()]
}

type mailboxKey struct {
	user string
	id   store.MailboxID
}

var _ store.Store = (*Store)(nil)

// Open connects to the database named by dsn (a libpq connection string or
// URL), applies any pending schema migrations, and starts listening for
// other nodes' commits.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// pgx's default (4 on this machine) would queue a busy front
		// end's sessions behind each other; pool_max_conns overrides.
		cfg.MaxConns = DefaultMaxConns
	}
	if opts.tracer != nil {
		cfg.ConnConfig.Tracer = opts.tracer
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	hub := opts.Hub
	if hub == nil {
		hub = store.NewHub()
	}
	var b [8]byte
	rand.Read(b[:])
	s := &Store{pool: pool, opts: opts, hub: hub, node: hex.EncodeToString(b[:]),
		open: make(map[string]int), seen: make(map[mailboxKey]store.ModSeq),
		cmaps: contentmap.Cache{Max: maxContentMaps}}
	if !opts.NoListen {
		lctx, cancel := context.WithCancel(context.Background())
		s.listenStop, s.listenDone = cancel, make(chan struct{})
		ready := make(chan error, 1)
		// The pool's connection settings, without its pool_* options.
		go s.listen(lctx, cfg.ConnConfig, ready)
		if err := <-ready; err != nil {
			cancel()
			<-s.listenDone
			pool.Close()
			return nil, fmt.Errorf("pgstore: listen: %w", err)
		}
	}
	if opts.ReclaimEvery > 0 {
		grace := opts.ReclaimGrace
		if grace <= 0 {
			grace = DefaultReclaimGrace
		}
		rctx, cancel := context.WithCancel(context.Background())
		s.reclaimStop, s.reclaimDone = cancel, make(chan struct{})
		go s.reclaimLoop(rctx, opts.ReclaimEvery, grace)
	}
	return s, nil
}

func (s *Store) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// Hub returns the hub commits are published on.
func (s *Store) Hub() *store.Hub { return s.hub }

// Shared reports that other processes may write this store: an in-memory
// copy must check the store before trusting itself (store.Shared).
func (s *Store) Shared() bool { return true }

// Close stops listening and closes the connections. Handles still open
// become unusable.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	leading := s.leading
	s.mu.Unlock()
	for _, release := range leading {
		release()
	}
	if s.listenStop != nil {
		s.listenStop()
		<-s.listenDone
	}
	if s.reclaimStop != nil {
		s.reclaimStop()
		<-s.reclaimDone
	}
	s.pool.Close()
	return nil
}

// CreateUser makes an empty store with an INBOX, in one transaction.
func (s *Store) CreateUser(ctx context.Context, user string) error {
	name, err := store.ValidUserName(user)
	if err != nil {
		return fmt.Errorf("create user: %w: %w", store.ErrCannot, err)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO users (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id`, name).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("create user %q: %w", name, store.ErrUserExists)
		}
		if err != nil {
			return fmt.Errorf("create user %q: %w", name, err)
		}
		t := &writeTx{ctx: ctx, tx: tx, userID: id, user: name, uidv: 1, touched: map[store.MailboxID]store.ModSeq{}}
		_, err = t.createMailbox("INBOX", "")
		return err
	})
}

// DeleteUser removes a user and all its mail. Unlike the embedded store it
// cannot know whether another node holds the user open; such handles then
// find the user gone (store.ErrNoUser).
func (s *Store) DeleteUser(ctx context.Context, user string) error {
	name, err := store.ValidUserName(user)
	if err != nil {
		return fmt.Errorf("delete user: %w: %w", store.ErrNoUser, err)
	}
	var ids []store.MailboxID
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var uid int64
		if err := tx.QueryRow(ctx, `SELECT id FROM users WHERE name = $1 FOR UPDATE`, name).Scan(&uid); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("delete user %q: %w", name, store.ErrNoUser)
			}
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id FROM mailboxes WHERE user_id = $1`, uid)
		if err != nil {
			return err
		}
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[store.MailboxID]); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT DISTINCT blob_id FROM contents WHERE user_id = $1`, uid)
		if err != nil {
			return err
		}
		blobs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, uid); err != nil {
			return fmt.Errorf("delete user %q: %w", name, err)
		}
		t := &writeTx{ctx: ctx, tx: tx}
		for _, id := range ids {
			t.notify(name, id, 0)
		}
		return t.dropUnreferencedBodies(blobs)
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		s.hub.Publish(name, id, 0)
	}
	return nil
}

// Users lists user names in ascending order.
func (s *Store) Users(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT name FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Open returns a handle on a user's store.
func (s *Store) Open(ctx context.Context, user string) (store.Account, error) {
	return s.openAccount(ctx, user)
}

func (s *Store) openAccount(ctx context.Context, user string) (*Account, error) {
	name, err := store.ValidUserName(user)
	if err != nil {
		return nil, fmt.Errorf("open user: %w: %w", store.ErrNoUser, err)
	}
	var id int64
	if err := s.pool.QueryRow(ctx, `SELECT id FROM users WHERE name = $1`, name).Scan(&id); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("open user %q: %w", name, store.ErrNoUser)
		}
		return nil, fmt.Errorf("open user %q: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	s.open[name]++
	return &Account{s: s, user: name, id: id}, nil
}

func (s *Store) release(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[user]--; s.open[user] <= 0 {
		delete(s.open, user)
	}
}

var errClosed = errors.New("pgstore: store closed")

// Account is a handle on one user's store; it implements store.Account.
type Account struct {
	s      *Store
	user   string
	id     int64 // users.id
	closed atomic.Bool
}

var _ store.Account = (*Account)(nil)

// User returns the user's (lower-case) name.
func (a *Account) User() string { return a.user }

// Close releases the handle. It is safe to call more than once.
func (a *Account) Close() error {
	if !a.closed.Swap(true) {
		a.s.release(a.user)
	}
	return nil
}

// writeTx is one write transaction of a user's store.
type writeTx struct {
	ctx    context.Context
	tx     pgx.Tx
	userID int64
	user   string
	node   string // Store.node, for notifications
	// noText is Options.NoTextIndex: appends mark their contents missing
	// from the text index instead of indexing them.
	noText bool
	// touched maps each mailbox this transaction changed to the modseq it
	// allocated there (0 for a deletion); announced at commit.
	touched map[store.MailboxID]store.ModSeq
	// notified holds the mailboxes already queued for NOTIFY.
	notified map[store.MailboxID]bool
	uidv     int64 // users.uidvalidity_next as locked
	// atLeast is a lower bound for the modseqs modseq allocates (a
	// Replica batch's store.Batch.ModSeq); 0 for local changes.
	atLeast store.ModSeq
}

// maxWriteTries bounds how often a write transaction is retried after a
// conflict with another user's transaction on shared rows (a body being
// deleted as it is reused) or a deadlock the server broke.
const maxWriteTries = 4

// write runs fn in a write transaction and commits it. Writers of one user
// are serialized across every process by a row lock on the user's row,
// taken first: inside, each statement sees every earlier writer's commit,
// so modseqs, UIDs and the UNCHANGEDSINCE test are decided on current
// data. NOTIFY is queued inside the transaction, so other nodes hear of
// the commit exactly when it happens; this node's Hub hears after the
// commit and before write returns.
func (a *Account) write(ctx context.Context, fn func(t *writeTx) error) error {
	var t *writeTx
	var err error
	for try := 1; ; try++ {
		t, err = a.writeOnce(ctx, fn)
		if err == nil || try == maxWriteTries || !retryable(err) {
			break
		}
	}
	if err != nil {
		return err
	}
	a.s.committed(a.user, t.touched)
	return nil
}

func (a *Account) writeOnce(ctx context.Context, fn func(t *writeTx) error) (*writeTx, error) {
	tx, err := a.s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx)
	t := &writeTx{ctx: ctx, tx: tx, userID: a.id, user: a.user, node: a.s.node, noText: a.s.opts.NoTextIndex,
		touched: make(map[store.MailboxID]store.ModSeq), notified: make(map[store.MailboxID]bool)}
	var moving bool
	if err := tx.QueryRow(ctx, `SELECT uidvalidity_next, moving FROM users WHERE id = $1 FOR UPDATE`, a.id).Scan(&t.uidv, &moving); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			// The handle's user row is gone (users.id is never reused):
			// deleted, or moved to another cluster, by another process.
			return nil, fmt.Errorf("user %q: %w", a.user, store.ErrUserDeleted)
		}
		return nil, fmt.Errorf("lock user: %w", err)
	}
	if moving && !isMover(ctx) {
		return nil, fmt.Errorf("user %q: %w", a.user, ErrUserMoving)
	}
	if err := fn(t); err != nil {
		return nil, err
	}
	for id, m := range t.touched {
		if err := t.notify(a.user, id, m); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return t, nil
}

// retryable reports errors after which the whole transaction may simply
// run again: serialization failures, deadlocks, and a foreign key to a
// body that another user's transaction deleted meanwhile.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40001", "40P01":
		return true
	case "23503":
		return pe.ConstraintName == "contents_blob_id_fkey"
	}
	return false
}

// modseq returns the modseq this transaction gives to changes in mailbox
// id: HIGHESTMODSEQ+1 (or t.atLeast, when larger), allocated on first use
// and then reused for every change the transaction makes there (RFC 7162
// 3.1.1). Callers call it only once they know something changes, so a
// no-op allocates nothing.
func (t *writeTx) modseq(id store.MailboxID) (store.ModSeq, error) {
	if m, ok := t.touched[id]; ok && m != 0 {
		return m, nil
	}
	return t.NewModSeq(id, t.atLeast)
}

// NewModSeq allocates a fresh modseq in mailbox id: max(HIGHESTMODSEQ+1,
// atLeast). It is the only place modseqs are allocated; the mailbox row
// it updates stays locked until the commit. Local changes pass atLeast 0;
// changes replicated from a peer pass the peer's modseq, so a replica that
// only receives keeps its source's modseqs, and every new modseq is still
// above every one a client has seen here.
func (t *writeTx) NewModSeq(id store.MailboxID, atLeast store.ModSeq) (store.ModSeq, error) {
	var m store.ModSeq
	err := t.tx.QueryRow(t.ctx, `UPDATE mailboxes SET highestmodseq = greatest(highestmodseq + 1, $3)
		WHERE id = $1 AND user_id = $2 RETURNING highestmodseq`, id, t.userID, int64(atLeast)).Scan(&m)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("mailbox %d: %w", id, store.ErrNoMailbox)
	}
	if err != nil {
		return 0, fmt.Errorf("allocate modseq: %w", err)
	}
	t.touched[id] = m
	return m, nil
}

// mailboxWithModseq reads mailbox id and allocates its modseq for this
// transaction (as modseq does) in one statement, for a caller that knows
// it changes the mailbox.
func (t *writeTx) mailboxWithModseq(id store.MailboxID) (mailboxRow, error) {
	if _, ok := t.touched[id]; ok {
		return t.mailbox(id)
	}
	m, err := scanMailbox(t.tx.QueryRow(t.ctx, `UPDATE mailboxes mb SET highestmodseq = greatest(mb.highestmodseq + 1, $3)
		WHERE mb.id = $1 AND mb.user_id = $2 RETURNING `+mailboxColumns, id, t.userID, int64(t.atLeast)))
	if errors.Is(err, pgx.ErrNoRows) {
		return lookupID(t.ctx, t.tx, t.userID, id) // the reason: no mailbox, or no user
	}
	if err != nil {
		return m, fmt.Errorf("allocate modseq: %w", err)
	}
	t.touched[id] = m.HighestModSeq
	return m, nil
}

// uidValidity hands out the next UIDVALIDITY: the current time in seconds
// when that is larger, strictly increasing per user in any case (RFC 9051
// 2.3.1.1).
func (t *writeTx) uidValidity() (uint32, error) {
	v := max(t.uidv, time.Now().Unix(), 1)
	if v >= 1<<32-1 {
		return 0, fmt.Errorf("UIDVALIDITY exhausted: %w", store.ErrCannot)
	}
	t.uidv = v + 1
	if _, err := t.tx.Exec(t.ctx, `UPDATE users SET uidvalidity_next = $1 WHERE id = $2`, t.uidv, t.userID); err != nil {
		return 0, err
	}
	return uint32(v), nil
}

var _ store.Pinger = (*Store)(nil)

// Ping proves the database answers (store.Pinger): one query, within ctx.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}
