package sqlitestore

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// pollInterval is how often an open user database looks for commits made
// by other processes (tidemark deliver or import next to tidemark serve).
// Tests lower it.
var pollInterval = 250 * time.Millisecond

// pollFault, when set (by tests, as fault injection), is called before each
// poll; an error it returns stands for a failed read of the database.
var pollFault func() error

// foreignWatch publishes on the hub the changes other processes commit to
// a user's database, which never pass through this process's write path.
//
// PRAGMA data_version, read on one dedicated connection, changes whenever
// another connection (this process's writer included) commits. When it
// moved, the mailboxes' HIGHESTMODSEQs are compared with the last ones
// known; the write path records its own commits there first, so only
// changes no local commit explains are published, each mailbox once.
type foreignWatch struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	known map[store.MailboxID]store.ModSeq // guarded by mu

	// account is the last account change counter and server metadata
	// modseq seen (poller goroutine only): when either moves, another
	// process changed the account, published under store.AccountID.
	account [2]uint64
}

// startForeignWatch starts the poller of u; stop ends it.
func (u *userDB) startForeignWatch(ctx context.Context) error {
	conn, err := u.r.Conn(ctx)
	if err != nil {
		return err
	}
	w := &foreignWatch{done: make(chan struct{}), known: make(map[store.MailboxID]store.ModSeq)}
	var version int64
	if err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&version); err != nil {
		conn.Close()
		return err
	}
	if _, err := w.scan(ctx, conn, false); err != nil {
		conn.Close()
		return err
	}
	if _, err := w.scanAccount(ctx, conn); err != nil {
		conn.Close()
		return err
	}
	pollCtx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	u.watch = w
	go func() {
		defer close(w.done)
		defer conn.Close()
		t := time.NewTicker(pollInterval)
		defer t.Stop()
		announced := false
		failing := 0 // polls failed in a row
		for {
			select {
			case <-pollCtx.Done():
				return
			case <-t.C:
			}
			if u.idle.Load() {
				// Nobody in this process has the user open; the first
				// poll after it is opened again catches up (data_version
				// is compared with the last one read).
				continue
			}
			if u.deleted() {
				// Deleted by another process: wake every watcher of
				// this user once, so that its sessions find out and end.
				if !announced {
					announced = true
					u.announceDeleted()
				}
				continue
			}
			v, changed, account, err := w.poll(pollCtx, conn, version)
			if err != nil {
				if pollCtx.Err() != nil {
					return
				}
				// Retried at the next tick; said once, not every tick,
				// and said again when it works again.
				if failing == 0 {
					u.log.Warn("cannot look for other processes' commits; retrying", "user", u.name, "err", err)
				}
				failing++
				continue
			}
			if failing > 0 {
				u.log.Info("looking for other processes' commits again", "user", u.name, "failed_polls", failing)
				failing = 0
			}
			version = v
			for id, ms := range changed {
				u.hub.Publish(u.name, id, ms)
			}
			if len(changed) > 0 {
				// Another process's appends may have waited behind a
				// backlog this process's indexer works through.
				u.wakeIndexer()
			}
			if account {
				u.hub.Publish(u.name, store.AccountID, 0)
			}
		}
	}()
	return nil
}

// poll reads data_version and, when it moved from version, the mailboxes
// that moved with it, and whether the account changed.
func (w *foreignWatch) poll(ctx context.Context, conn *sql.Conn, version int64) (int64, map[store.MailboxID]store.ModSeq, bool, error) {
	if pollFault != nil {
		if err := pollFault(); err != nil {
			return version, nil, false, err
		}
	}
	var v int64
	if err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
		return version, nil, false, err
	}
	if v == version {
		return version, nil, false, nil
	}
	changed, err := w.scan(ctx, conn, true)
	if err != nil {
		return version, nil, false, err
	}
	account, err := w.scanAccount(ctx, conn)
	if err != nil {
		return version, nil, false, err
	}
	return v, changed, account, nil
}

// scanAccount reads the account change counter and the server metadata
// modseq, reporting whether either moved. This process's own account
// changes are seen too and published again; watchers of the account
// compare it with what they knew, so that costs a comparison.
func (w *foreignWatch) scanAccount(ctx context.Context, conn *sql.Conn) (bool, error) {
	var now [2]uint64
	err := conn.QueryRowContext(ctx, `SELECT
		(SELECT coalesce(max(value), 0) FROM meta WHERE key = 'account_counter'),
		(SELECT coalesce(max(modseq), 0) FROM metadata WHERE mailbox_id = 0)`).Scan(&now[0], &now[1])
	if err != nil {
		return false, err
	}
	moved := now != w.account
	w.account = now
	return moved, nil
}

// scan reads every mailbox's HIGHESTMODSEQ and returns those above what
// was known, recording them.
func (w *foreignWatch) scan(ctx context.Context, conn *sql.Conn, report bool) (map[store.MailboxID]store.ModSeq, error) {
	rows, err := conn.QueryContext(ctx, `SELECT id, highestmodseq FROM mailboxes`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	seen := make(map[store.MailboxID]store.ModSeq)
	for rows.Next() {
		var id store.MailboxID
		var ms store.ModSeq
		if err := rows.Scan(&id, &ms); err != nil {
			return nil, err
		}
		seen[id] = ms
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	changed := make(map[store.MailboxID]store.ModSeq)
	for id, ms := range seen {
		old, ok := w.known[id]
		if ok && ms <= old {
			continue
		}
		// A mailbox first seen here was created since the last scan; at
		// a modseq above its first one, something was also written to
		// it since, which no local commit explains (those are recorded
		// before the poller looks): announced like any other change.
		if report && (ok || ms > 1) {
			changed[id] = ms
		}
		w.known[id] = ms
	}
	for id := range w.known {
		if _, ok := seen[id]; !ok {
			delete(w.known, id) // deleted
		}
	}
	return changed, nil
}

// committed records modseqs this process committed, so the poller does
// not announce them a second time.
func (w *foreignWatch) committed(touched map[store.MailboxID]store.ModSeq) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, ms := range touched {
		w.known[id] = max(w.known[id], ms)
	}
}

func (w *foreignWatch) stop() {
	w.cancel()
	<-w.done
}

// announceDeleted publishes a change on every mailbox of a deleted user's
// store, so that sessions waiting on them (IDLE) look, get
// store.ErrUserDeleted and end.
func (u *userDB) announceDeleted() {
	u.gone.Store(true)
	if u.watch == nil {
		return
	}
	u.watch.mu.Lock()
	ids := make(map[store.MailboxID]store.ModSeq, len(u.watch.known))
	for id, ms := range u.watch.known {
		ids[id] = ms + 1
	}
	u.watch.mu.Unlock()
	for id, ms := range ids {
		u.hub.Publish(u.name, id, ms)
	}
}
