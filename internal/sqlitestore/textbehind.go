package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tidemark-mail/tidemark/internal/message"
)

// The text index written behind appends (Options.TextIndexBehind). Writing
// the FTS5 rows of a MULTIAPPEND in its own transaction costs more CPU than
// everything else the append does, and those of a single APPEND or
// delivery cost it a segment flush and FTS5's automerge in every commit;
// with this option an append commits without them and a background
// indexer of the user's database writes them afterwards, in larger
// batches, when the client pauses (behindMax bounds how far it lets them
// run ahead).
//
// Exactness does not wait for the indexer. meta.text_index_pending_after
// (A) is present while some contents are not indexed yet: every contents
// row with an id above A lacks its index rows, every one at or below A has
// them (unless text_index_missing_upto says otherwise). SearchText reads A
// in the same snapshot as the index and hands the messages whose contents
// are above it to the scan (TextHits.Maybe), so a message is found by
// SEARCH as soon as its append is answered, indexed or not.
//
// An append defers its rows when the key is present (so that nothing above
// A is ever indexed out of turn) or when the option is on; it sets A, if
// absent, below its first contents id. Without the option an append with
// no backlog indexes itself in its own transaction. The indexer writes a batch's rows and raises A in one
// transaction, and removes the key in the transaction that indexes the
// last contents row, so a crash at any point leaves index rows and
// watermark agreeing: whatever is above A is indexed at the next open.
// Contents ids are AUTOINCREMENT and never reused, and dropping a contents
// row drops its index rows (none yet, above A) in the same transaction.
const textPendingKey = "text_index_pending_after"

// behindBatch is how many contents one indexer transaction indexes (the
// rows of each table in one INSERT). A variable for tests, which index in
// small steps.
var behindBatch = 1000

// textPending returns A and whether the key is present, in tx.
func textPending(ctx context.Context, q querier) (int64, bool, error) {
	var after int64
	err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = '`+textPendingKey+`'`).Scan(&after)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("text index: %w", err)
	}
	return after, true, nil
}

// deferText leaves the index rows of new contents ids to the indexer:
// it sets A below them when no backlog exists, and marks the transaction
// so that the commit wakes the indexer.
func (t *writeTx) deferText(ids []int64, pending bool) error {
	t.textQueued = true
	if pending {
		return nil
	}
	first := ids[0]
	for _, id := range ids {
		first = min(first, id)
	}
	if _, err := t.q.ExecContext(t.ctx, `INSERT INTO meta (key, value) VALUES ('`+textPendingKey+`', ?)`, first-1); err != nil {
		return fmt.Errorf("text index: %w", err)
	}
	return nil
}

// behindMax is the backlog up to which the indexer gives way to appends:
// while a client keeps appending (a MULTIAPPEND after another, an
// import), the indexer waits for a pause of behindQuiet, so the appends
// have the cores to themselves; beyond behindMax contents behind, it
// indexes regardless, so that SEARCH never scans more than about that
// many messages a user appended in one go.
var behindMax int64 = 100_000 // tests lower it

const behindQuiet = 100 * time.Millisecond

// backlogSize returns about how many contents wait for their index rows
// (0 when none do, or when it cannot tell).
func (u *userDB) backlogSize(ctx context.Context) int64 {
	var n int64
	err := u.r.QueryRowContext(ctx, `SELECT coalesce((SELECT max(id) FROM contents), 0) - value
		FROM meta WHERE key = '`+textPendingKey+`'`).Scan(&n)
	if err != nil {
		return 0
	}
	return n
}

// appendsRunning tells the indexer whether it should give way: an append
// is under way, or one ended less than behindQuiet ago.
func (u *userDB) appendsRunning() bool {
	if u.appending.Load() > 0 {
		return true
	}
	return time.Since(time.Unix(0, u.lastAppend.Load())) < behindQuiet
}

// appendStarted and appendDone bracket an append for appendsRunning.
func (u *userDB) appendStarted() { u.appending.Add(1) }

func (u *userDB) appendDone() {
	u.lastAppend.Store(time.Now().UnixNano())
	u.appending.Add(-1)
}

// indexer runs a user's background indexing: woken by commits that
// deferred index rows, and once when the database is opened (a backlog
// left by a crash or a close).
type indexer struct {
	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	// hold, for tests, keeps the indexer from starting any batch while
	// it is held (the backlog then stays, as on a busy server).
	hold chan struct{}
	// busy is set while the indexer works through a backlog: the store
	// keeps an idle database open meanwhile (Store.closeIdle).
	busy atomic.Bool
	// failed holds the error of the last batch when it failed (the
	// indexer then waits for the next deferring commit), nil after one
	// that succeeded: WaitTextIndexed returns it rather than wait.
	failed atomic.Pointer[error]
}

// startIndexer starts u's background indexer.
func (u *userDB) startIndexer() {
	ctx, cancel := context.WithCancel(context.Background())
	ix := &indexer{wake: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}), hold: make(chan struct{}, 1)}
	ix.wake <- struct{}{} // a backlog from before
	u.ix = ix
	go func() {
		defer close(ix.done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ix.wake:
			}
			ix.busy.Store(true)
			for behind := u.backlogSize(ctx); ; {
				// Give way while appends run, unless the backlog has
				// grown past behindMax meanwhile: a client appending
				// without pause would otherwise hold the index back
				// for as long as it appends.
				for behind < behindMax && u.appendsRunning() {
					select {
					case <-time.After(behindQuiet):
					case <-ctx.Done():
						return
					}
					behind = u.backlogSize(ctx)
				}
				select {
				case ix.hold <- struct{}{}:
				case <-ctx.Done():
					return
				}
				more, n, err := u.indexBehind(ctx)
				behind = n
				<-ix.hold
				if err != nil {
					ix.failed.Store(&err)
				} else {
					ix.failed.Store(nil)
				}
				if err != nil {
					if ctx.Err() == nil {
						u.log.Warn("text index: background indexing failed; SEARCH scans what is not indexed", "user", u.name, "err", err)
					}
					break // the next deferring commit or open retries
				}
				if !more {
					break
				}
			}
			ix.busy.Store(false)
		}
	}()
}

// wakeIndexer tells the indexer that a commit deferred index rows.
func (u *userDB) wakeIndexer() {
	if u.ix == nil {
		return
	}
	select {
	case u.ix.wake <- struct{}{}:
	default:
	}
}

// indexing reports whether u's indexer is working through a backlog.
func (u *userDB) indexing() bool { return u.ix != nil && u.ix.busy.Load() }

// WaitTextIndexed waits until the text index holds every message of the
// user's store, the background indexer having caught up with the appends
// written behind it (Options.TextIndexBehind): a bulk import that defers
// its index rows waits here before it exits, rather than leaving the
// backlog to the next process that opens the store. It returns at once
// when the store has no indexer, and with the indexer's error when its
// last batch failed (a full disk): what is left is indexed by the next
// process that opens the store.
func (a *Account) WaitTextIndexed(ctx context.Context) error {
	if a.u.ix == nil {
		return nil
	}
	for {
		if _, pending, err := textPending(ctx, a.u.reads()); err != nil || !pending {
			return err
		}
		if err := a.u.ix.failed.Load(); err != nil {
			return *err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stopIndexer ends the background indexer, if any; a backlog stays in
// the database for the next open.
func (u *userDB) stopIndexer() {
	if u.ix != nil {
		u.ix.cancel()
		<-u.ix.done
	}
}

// indexBehind indexes up to behindBatch contents above A: their text is
// computed from the stored messages outside any write transaction, then
// written with the new A in one. It reports whether a backlog remains,
// and about how many contents it holds.
func (u *userDB) indexBehind(ctx context.Context) (more bool, behind int64, err error) {
	var batch textRun
	var after int64
	var pending bool
	err = u.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		if after, pending, err = textPending(ctx, tx); err != nil || !pending {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, blob_id, structure FROM contents WHERE id > ? ORDER BY id LIMIT ?`, after, behindBatch)
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) - ? FROM contents`, after).Scan(&behind); err != nil {
			rows.Close()
			return err
		}
		batch, err = u.readTextRun(ctx, rows)
		return err
	})
	if err == nil && !pending {
		// No backlog: a schema 16 conversion's turn, then the words of a
		// schema 17 upgrade.
		if more, behind, err := u.splitStep(ctx); err != nil || more {
			return more, behind, err
		}
		return u.wordsStep(ctx)
	}
	if err != nil {
		return false, 0, err
	}
	err = u.write(ctx, func(t *writeTx) error {
		now, still, err := textPending(ctx, t.tx)
		if err != nil {
			return err
		}
		if !still || now != after {
			more = still // moved by Reindex meanwhile: read again
			return nil
		}
		// The index rows expunges left behind (expunge.go) go in the
		// same flush as the new ones.
		if err := t.applyTextDrops(); err != nil {
			return err
		}
		top := batch.top(after)
		live, err := batch.live(ctx, t.tx)
		if err != nil {
			return err
		}
		if err := t.indexContents(live.ids, live.texts); err != nil {
			return err
		}
		if err := t.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM contents WHERE id > ?)`, top).Scan(&more); err != nil {
			return err
		}
		if more {
			_, err = t.tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = '`+textPendingKey+`'`, top)
			return err
		}
		if _, err = t.tx.ExecContext(ctx, `DELETE FROM meta WHERE key = '`+textPendingKey+`'`); err != nil {
			return err
		}
		// A conversion or a words backfill waits behind.
		if _, _, more, err = textSplit(ctx, t.tx); err != nil || more {
			return err
		}
		mark, err := wordsBackfilling(ctx, t.tx)
		more = mark != 0
		return err
	})
	if err != nil {
		return false, 0, fmt.Errorf("text index behind: %w", err)
	}
	return more, behind - int64(len(batch.ids)), nil
}

// textRun is the text of a run of contents rows in id order, computed
// from the stored messages in a read transaction so that the write
// transaction that indexes it holds the lock only to write.
type textRun struct {
	ids   []int64
	texts []*message.IndexText
}

// readTextRun reads rows of (id, blob_id, structure) and derives each
// one's text. It closes rows.
func (u *userDB) readTextRun(ctx context.Context, rows *sql.Rows) (textRun, error) {
	defer rows.Close()
	var run textRun
	for rows.Next() {
		var id int64
		var blobID string
		var structure []byte
		if err := rows.Scan(&id, &blobID, &structure); err != nil {
			return textRun{}, err
		}
		run.ids = append(run.ids, id)
		run.texts = append(run.texts, u.derive(ctx, blobID, structure, false).text)
	}
	return run, rows.Err()
}

// top returns the run's last id, or from when the run is empty.
func (r textRun) top(from int64) int64 {
	if len(r.ids) == 0 {
		return from
	}
	return r.ids[len(r.ids)-1]
}

// live returns the part of the run whose contents rows still exist: an
// expunge may have dropped some between the read and the write.
func (r textRun) live(ctx context.Context, tx *sql.Tx) (textRun, error) {
	var out textRun
	for i, id := range r.ids {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM contents WHERE id = ?)`, id).Scan(&exists); err != nil {
			return textRun{}, err
		}
		if exists {
			out.ids, out.texts = append(out.ids, id), append(out.texts, r.texts[i])
		}
	}
	return out, nil
}
