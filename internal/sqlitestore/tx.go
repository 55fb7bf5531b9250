package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
}

// write runs fn in a write transaction and commits it. The manifest, when
// fn changed it, is made durable before the commit; the hub hears of the
// changed mailboxes after the commit.
func (u *userDB) write(ctx context.Context, fn func(t *writeTx) error) error {
	u.writeMu.Lock()
	defer u.writeMu.Unlock()
	// Never acknowledge a write into a store deleted by another process:
	// its files are already unlinked.
	if u.deleted() {
		return u.errDeleted()
	}
	tx, err := u.w.BeginTx(ctx, nil)
	if err != nil {
		return storageErr(fmt.Errorf("begin: %w", err))
	}
	t := &writeTx{ctx: ctx, u: u, tx: tx, touched: make(map[store.MailboxID]store.ModSeq), man: u.man,
		newKW: make(map[string]kwSetID), q: &txStmts{tx: tx, cache: u.wstmts, lazy: true}}
	// The single connection is free again once the transaction ends:
	// prepare what it ran unprepared, for the next ones.
	defer func() {
		for _, q := range t.q.missed {
			u.wstmts.prepare(ctx, q)
		}
	}()
	if err := fn(t); err != nil {
		tx.Rollback()
		return storageErr(err)
	}
	if t.manDirty {
		if err := writeManifest(u.dir, t.man); err != nil {
			tx.Rollback()
			return storageErr(err)
		}
	}
	if t.manDirty || t.manFresh {
		u.man = t.man
	}
	if err := tx.Commit(); err != nil {
		return storageErr(fmt.Errorf("commit: %w", err))
	}
	if t.newDBFloor != 0 {
		u.dbFloor = t.newDBFloor
	}
	u.rc.committed(t.named, t.dropped)
	for s, id := range t.newKW {
		u.kw.add(id, s)
	}
	if u.watch != nil {
		u.watch.committed(t.touched)
	}
	for id, m := range t.touched {
		u.hub.Publish(u.name, id, m)
	}
	if t.accountChanged {
		u.hub.Publish(u.name, store.AccountID, 0)
	}
	return nil
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
	return t.newModseq(id, t.atLeast)
}

// newModseq allocates a fresh modseq in mailbox id: max(HIGHESTMODSEQ+1,
// atLeast). It is the only place modseqs are allocated. Local changes pass
// atLeast 0; changes replicated from a peer pass the peer's modseq, so a
// replica that only receives keeps its source's modseqs, and every new
// modseq is still above every one a client has seen here (the "nothing
// changed since M" test of QRESYNC stays exact).
func (t *writeTx) newModseq(id store.MailboxID, atLeast store.ModSeq) (store.ModSeq, error) {
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
