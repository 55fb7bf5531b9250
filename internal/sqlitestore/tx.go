package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// writeTx is one write transaction of a user's store.
type writeTx struct {
	ctx context.Context
	u   *userDB
	tx  *sql.Tx
	// q runs the transaction's frequent statements prepared once per open
	// store (stmtcache.go) rather than parsed on every call.
	q *txStmts

	// touched maps each mailbox this transaction changed to the modseq it
	// allocated there; published on the hub after commit.
	touched map[store.MailboxID]store.ModSeq
	// man is the manifest as it must be on disk before the commit.
	man      manifest
	manDirty bool
	// manFresh is set once man has been merged with the manifest on disk,
	// which another process (tidemark deliver next to serve) may have
	// rewritten since this one read it.
	manFresh bool
	// newDBFloor is the meta.modseq_floor this transaction writes, 0 if
	// none.
	newDBFloor uint64
	// newKW holds the keyword sets this transaction created; they enter
	// the shared cache only once it commits.
	newKW map[string]kwSetID
	// buf is scratch space for encoding chunks.
	buf []byte
	// named and dropped are the bodies this transaction made a contents
	// row name, and those it left unnamed; told to the reclaimer after
	// the commit (reclaim.go).
	named, dropped []string
	// atLeast is a lower bound for the modseqs this transaction allocates
	// (a Replica batch keeping up with its source's modseqs); 0 for none.
	atLeast store.ModSeq
	// accountChanged is set when the transaction changed the account
	// rather than (only) mailboxes' messages: a mailbox created, renamed
	// or deleted, a subscription, server metadata. Published under
	// store.AccountID after the commit (NOTIFY's MailboxName and
	// SubscriptionChange).
	accountChanged bool
	// textQueued is set when the transaction left index rows to the
	// background indexer, which the commit wakes (textbehind.go).
	textQueued bool
}

// write runs fn in a write transaction and commits it. The manifest, when
// fn changed it, is made durable before the commit; the hub hears of the
// changed mailboxes after the commit.
//
// Group commit: writes of one user that arrive while another one's
// transaction runs wait for it, and then the first of them to run takes
// every write waiting and runs them in one SQLite transaction, each in a
// savepoint of its own (a write that fails rolls back alone), with one
// commit for all (runBatch). Each caller still returns only after the
// commit that holds its change is durable (syncTo, durable.go), so
// concurrent sessions of a user and pipelined deliveries share fsyncs while
// every acknowledged write stays fsynced; a caller that deferred the sync
// (store.DeferSync) returns once committed, and syncs with MakeDurable
// before answering. Each write keeps its own modseqs: a writeTx per write,
// allocating its own.
func (u *userDB) write(ctx context.Context, fn func(t *writeTx) error) error {
	r := &writeReq{ctx: ctx, fn: fn}
	u.queueMu.Lock()
	u.queue = append(u.queue, r)
	u.queueMu.Unlock()

	// While a sync runs, let writes queue up rather than commit one
	// transaction each: the first to run after it takes them all, as
	// writes arriving during a commit always did. A session's pipelined
	// commands do not sync in between, so they never wait here for their
	// own.
	u.syncMu.Lock()
	u.syncMu.Unlock() //nolint:staticcheck // waiting for the sync, nothing to guard

	func() {
		u.writeMu.Lock()
		defer u.writeMu.Unlock() // also when a write panics
		// Done already when run by the batch of a write that held
		// writeMu before.
		if !r.done {
			u.runQueued(r)
		}
	}()
	if r.err != nil || r.seq == 0 || store.SyncDeferred(ctx) {
		return r.err
	}
	// Synced outside writeMu, so the next batch commits meanwhile and
	// the sync after it covers it and any others that are ready.
	if err := u.syncTo(r.seq); err != nil {
		return storageErr(err)
	}
	return nil
}

// runQueued runs r and the writes queued with it; writeMu is held.
func (u *userDB) runQueued(r *writeReq) {
	u.queueMu.Lock()
	n := min(len(u.queue), maxWriteBatch)
	batch := slices.Clone(u.queue[:n])
	u.queue = slices.Delete(u.queue, 0, n)
	u.queueMu.Unlock()
	if !slices.Contains(batch, r) {
		// Queued after maxWriteBatch others: run it alone, now.
		batch = []*writeReq{r}
		u.queueMu.Lock()
		if i := slices.Index(u.queue, r); i >= 0 {
			u.queue = slices.Delete(u.queue, i, i+1)
		}
		u.queueMu.Unlock()
	}
	u.runBatch(batch)
}

// writeReq is one write waiting for, or run by, a batch. done and err are
// set by the batch under writeMu, and read by the caller once it holds
// writeMu.
type writeReq struct {
	ctx  context.Context
	fn   func(t *writeTx) error
	done bool
	err  error
	// seq is the number of the commit that carried the write (0 if
	// none), for syncTo.
	seq uint64
}

// maxWriteBatch bounds the writes one commit carries, so that one caller's
// wait for its own commit stays bounded.
const maxWriteBatch = 64

// runBatch runs writes in one transaction and commits it; writeMu is held.
// It sets every request's done and err.
func (u *userDB) runBatch(batch []*writeReq) {
	finish := func(err error) {
		for _, r := range batch {
			if !r.done {
				r.done, r.err = true, err
			}
		}
	}
	// Never acknowledge a write into a store deleted by another process:
	// its files are already unlinked.
	if u.deleted() {
		finish(u.errDeleted())
		return
	}
	// The transaction outlives any one caller's context; each write's
	// statements still run under its own.
	tx, err := u.w.BeginTx(context.WithoutCancel(batch[0].ctx), nil)
	if err != nil {
		finish(storageErr(fmt.Errorf("begin: %w", err)))
		return
	}
	q := &txStmts{tx: tx, cache: u.wstmts, lazy: true}
	// The single connection is free again once the transaction ends:
	// prepare what it ran unprepared, for the next ones.
	defer func() {
		for _, query := range q.missed {
			u.wstmts.prepare(context.Background(), query)
		}
	}()
	// A write that panics must not leave the single connection inside a
	// transaction (registered after the deferred prepares above, so it
	// runs before them: they need the connection), nor the other writes of
	// the batch unanswered.
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			for _, r := range batch {
				r.done, r.err = true, storageErr(fmt.Errorf("write batch abandoned: %v", p))
			}
			panic(p)
		}
	}()
	// acc is the state the writes run so far leave: each write starts
	// from it, and it is what the commit makes durable.
	acc := &writeTx{u: u, tx: tx, q: q, man: u.man, newKW: make(map[string]kwSetID)}
	var ok []*writeReq
	var touched []map[store.MailboxID]store.ModSeq
	alone := len(batch) == 1
	abort := func(err error) {
		tx.Rollback()
		for _, r := range ok {
			r.done, r.err = true, err
		}
		finish(err)
	}
	for _, r := range batch {
		t := &writeTx{ctx: r.ctx, u: u, tx: tx, q: q, touched: make(map[store.MailboxID]store.ModSeq),
			man: acc.man, manDirty: acc.manDirty, manFresh: acc.manFresh, newDBFloor: acc.newDBFloor,
			newKW: maps.Clone(acc.newKW), buf: acc.buf}
		if !alone {
			if _, err := tx.ExecContext(context.Background(), `SAVEPOINT w`); err != nil {
				abort(storageErr(fmt.Errorf("savepoint: %w", err)))
				return
			}
		}
		err := r.fn(t)
		acc.buf = t.buf
		if err != nil {
			if alone {
				abort(storageErr(err))
				return
			}
			// Undo this write alone; the others go on.
			_, rerr := tx.ExecContext(context.Background(), `ROLLBACK TO w`)
			if rerr == nil {
				_, rerr = tx.ExecContext(context.Background(), `RELEASE w`)
			}
			if rerr != nil {
				abort(storageErr(fmt.Errorf("%w (and rolling back: %v)", err, rerr)))
				return
			}
			r.done, r.err = true, storageErr(err)
			continue
		}
		if !alone {
			if _, err := tx.ExecContext(context.Background(), `RELEASE w`); err != nil {
				abort(storageErr(fmt.Errorf("release savepoint: %w", err)))
				return
			}
		}
		acc.man, acc.manDirty, acc.manFresh, acc.newDBFloor = t.man, acc.manDirty || t.manDirty, t.manFresh, t.newDBFloor
		acc.newKW = t.newKW
		acc.named = append(acc.named, t.named...)
		acc.dropped = append(acc.dropped, t.dropped...)
		acc.accountChanged = acc.accountChanged || t.accountChanged
		acc.textQueued = acc.textQueued || t.textQueued
		touched = append(touched, t.touched)
		ok = append(ok, r)
	}
	if len(ok) == 0 {
		tx.Rollback()
		return
	}
	if acc.manDirty {
		if err := writeManifest(u.dir, acc.man); err != nil {
			abort(storageErr(err))
			return
		}
	}
	if acc.manDirty || acc.manFresh {
		u.man = acc.man
	}
	// Readers may see the commit as soon as SQLite has written it, before
	// the counters below move: mark the user unsynced first, and number
	// the commit as started, so that MakeDurable waits for it
	// (durable.go).
	u.dirty.add(u)
	seq := u.started.Add(1)
	err = tx.Commit()
	u.commits.Store(seq)
	if err != nil {
		abort(storageErr(fmt.Errorf("commit: %w", err)))
		return
	}
	for _, r := range ok {
		r.seq = seq
	}
	u.ckpt.committed(u.w)
	if acc.newDBFloor != 0 {
		u.dbFloor = acc.newDBFloor
	}
	u.rc.committed(acc.named, acc.dropped)
	for s, id := range acc.newKW {
		u.kw.add(id, s)
	}
	for _, tm := range touched {
		if u.watch != nil {
			u.watch.committed(tm)
		}
		for id, m := range tm {
			u.hub.Publish(u.name, id, m)
		}
	}
	if acc.accountChanged {
		u.hub.Publish(u.name, store.AccountID, 0)
	}
	if acc.textQueued {
		u.wakeIndexer()
	}
	finish(nil)
}

// modseq returns the modseq this transaction gives to changes in mailbox
// id: HIGHESTMODSEQ+1, allocated on first use and then reused for every
// change the transaction makes there (RFC 7162 3.1.1; one STORE is one
// modseq). Callers call it only once they know something changes, so a
// no-op allocates nothing. A Replica batch may ask for more than
// HIGHESTMODSEQ+1 (t.atLeast).
func (t *writeTx) modseq(id store.MailboxID) (store.ModSeq, error) {
	if m, ok := t.touched[id]; ok {
		return m, nil
	}
	return t.NewModSeq(id, t.atLeast)
}

// NewModSeq allocates a fresh modseq in mailbox id: max(HIGHESTMODSEQ+1,
// atLeast). It is the only place modseqs are allocated. Local changes pass
// atLeast 0; changes replicated from a peer pass the peer's modseq, so a
// replica that only receives keeps its source's modseqs, and every new
// modseq is still above every one a client has seen here (the "nothing
// changed since M" test of QRESYNC stays exact).
func (t *writeTx) NewModSeq(id store.MailboxID, atLeast store.ModSeq) (store.ModSeq, error) {
	var m uint64
	err := t.q.QueryRowContext(t.ctx,
		`UPDATE mailboxes SET highestmodseq = max(highestmodseq + 1, ?) WHERE id = ? RETURNING highestmodseq`, uint64(atLeast), id).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("mailbox %d: %w", id, store.ErrNoMailbox)
	}
	if err != nil {
		return 0, fmt.Errorf("allocate modseq: %w", err)
	}
	if err := t.ensureFloor(m); err != nil {
		return 0, err
	}
	t.touched[id] = store.ModSeq(m)
	return store.ModSeq(m), nil
}

// accountChange allocates the stamp of a mailbox create, rename, delete,
// special-use or subscription change: the next value of the account
// change counter for a local change; for a peer's change (stamp non-zero)
// the peer's own stamp, kept as it is so that stamps order changes the
// same way on every replica, while the counter moves past it (a Lamport
// clock: a change made after seeing another gets a larger stamp).
func (t *writeTx) accountChange(stamp uint64) (uint64, error) {
	t.accountChanged = true
	var c uint64
	err := t.tx.QueryRowContext(t.ctx, `INSERT INTO meta (key, value) VALUES ('account_counter', max(1, ?))
		ON CONFLICT (key) DO UPDATE SET value = max(value + 1, ?) RETURNING value`, stamp, stamp).Scan(&c)
	if err != nil {
		return 0, fmt.Errorf("account counter: %w", err)
	}
	if stamp != 0 {
		return stamp, nil
	}
	return c, nil
}

// ensureFloor keeps the durable floor above modseq m: the manifest's
// reservation (written before commit) and meta.modseq_floor (in this
// transaction).
func (t *writeTx) ensureFloor(m uint64) error {
	if m >= t.man.ModSeqFloor {
		t.refreshManifest()
	}
	if m >= t.man.ModSeqFloor {
		t.man.PrevFloor = t.u.dbFloor
		t.man.ModSeqFloor = m + reservationStep
		t.manDirty = true
	}
	if m >= max(t.u.dbFloor, t.newDBFloor) {
		return t.writeDBFloor(t.man.ModSeqFloor)
	}
	return nil
}

// setFloor starts a fresh reservation at f, in both places.
func (t *writeTx) setFloor(f uint64) error {
	t.man.ModSeqFloor = f
	t.man.PrevFloor = f
	t.manDirty = true
	return t.writeDBFloor(f)
}

func (t *writeTx) writeDBFloor(f uint64) error {
	_, err := t.q.ExecContext(t.ctx,
		`INSERT INTO meta (key, value) VALUES ('modseq_floor', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, f)
	if err != nil {
		return fmt.Errorf("write modseq floor: %w", err)
	}
	t.newDBFloor = f
	return nil
}

// uidValidity hands out the next UIDVALIDITY: the current time in seconds
// when that is larger, so values also order across a lost manifest, and
// strictly increasing in any case (RFC 9051 2.3.1.1).
func (t *writeTx) uidValidity() uint32 {
	t.refreshManifest()
	v := max(t.man.UIDValidityNext, uint32(time.Now().Unix()), 1)
	t.man.UIDValidityNext = v + 1
	t.manDirty = true
	return v
}

// refreshManifest merges the manifest on disk into t.man, once per
// transaction, before t.man's counters are used or rewritten: another
// process may have moved them. No other process writes the manifest
// meanwhile, since every writer holds the database's write lock (BEGIN
// IMMEDIATE) while it does. A manifest that cannot be read leaves t.man as
// it was.
func (t *writeTx) refreshManifest() {
	if t.manFresh {
		return
	}
	t.manFresh = true
	disk, ok, err := readManifest(t.u.dir)
	if err != nil || !ok {
		return
	}
	t.man.UIDValidityNext = max(t.man.UIDValidityNext, disk.UIDValidityNext)
	if disk.ModSeqFloor > t.man.ModSeqFloor {
		t.man.ModSeqFloor, t.man.PrevFloor = disk.ModSeqFloor, disk.PrevFloor
	}
}

// scanColumn reads the one column of every row of rows, and closes them.
func scanColumn[T any](rows *sql.Rows) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
