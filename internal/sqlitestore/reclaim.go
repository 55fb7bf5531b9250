package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Reclaiming the bodies of expunged messages.
//
// A session can still address a message that another session has expunged
// until its next sync point tells it so, and a command that read a
// message's row goes on to open its body afterwards (FETCH streams it,
// SEARCH scans it). So the transaction that drops the last contents row
// naming a body does not delete the body: the body stays readable, and a
// reclamation pass removes it later, once that is provably safe:
//
//  1. A pass first installs its candidates: the bodies this process's
//     commits have unreferenced since the last pass, plus (on a full pass)
//     every unreferenced inline body and blob file found by a scan.
//  2. It then waits until every reader that entered before that moment has
//     left. A reader is a Messages call (the MessageData it hands out, and
//     the bodies they name, are valid until it returns: store.Account's
//     contract) or a Check. A reader that enters later reads a snapshot in
//     which a candidate is unreferenced, unless a commit named it again
//     (an Append of the same bytes) — and every commit that names or
//     drops a body removes it from the candidates, under the writer lock.
//  3. It removes, inside one write transaction, the candidates no contents
//     row names; files only when last written longer ago than minAge,
//     since another process (tidemark deliver, import) may have written or
//     reused a file and not yet committed the message that names it.
//     In-process appends hold gcMu shared until their commit, so they
//     never race the removal.
//
// Only a process that enables it (tidemark serve) reclaims in the
// background; tools that open a store beside a running server never do,
// so the server's readers are the ones the rule protects. A reader in
// another process (tidemark export, check) cannot be waited for: it
// rereads the message when a body is missing and treats a message that
// is gone as expunged meanwhile (a body a live message names is never
// removed).

// DefaultReclaimMinAge is the Options.ReclaimMinAge used when it is 0.
const DefaultReclaimMinAge = 10 * time.Minute

// fullReclaimEvery is how often the background reclamation rescans for
// unreferenced bodies that no commit of this process dropped (left by a
// crash or by another process).
const fullReclaimEvery = time.Hour

// readerSet tracks the readers in progress so that a reclamation pass can
// wait for those that entered before it.
type readerSet struct {
	mu      sync.Mutex
	next    uint64              // id of the next reader; guarded by mu
	active  map[uint64]struct{} // guarded by mu
	changed chan struct{}       // closed and replaced when a reader leaves; guarded by mu
}

func (r *readerSet) enter() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active == nil {
		r.active = make(map[uint64]struct{})
		r.changed = make(chan struct{})
	}
	id := r.next
	r.next++
	r.active[id] = struct{}{}
	return id
}

func (r *readerSet) exit(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.active, id)
	close(r.changed)
	r.changed = make(chan struct{})
}

// mark returns a point that waitBefore can wait for: every reader that
// entered before it has left.
func (r *readerSet) mark() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next
}

// waitBefore waits until no reader that entered before mark is active.
func (r *readerSet) waitBefore(ctx context.Context, mark uint64) error {
	for {
		r.mu.Lock()
		busy := false
		for id := range r.active {
			if id < mark {
				busy = true
				break
			}
		}
		ch := r.changed
		r.mu.Unlock()
		if !busy {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// reclaimer is a user database's reclamation state.
type reclaimer struct {
	readers readerSet

	// passMu lets one pass run at a time.
	passMu sync.Mutex

	mu sync.Mutex
	// dropped holds the bodies this process's commits unreferenced since
	// the last pass took them; guarded by mu.
	dropped map[string]struct{}
	// candidates are the bodies of the pass in progress; a commit that
	// names or drops one removes it. Guarded by mu.
	candidates map[string]struct{}

	wake   chan struct{} // signalled when something is dropped
	cancel context.CancelFunc
	done   chan struct{} // closed when the background loop ends; nil if none

	// waiting, when set (tests), is called once a pass has installed its
	// candidates and starts waiting for earlier readers.
	waiting func()
}

func newReclaimer() *reclaimer {
	return &reclaimer{dropped: make(map[string]struct{}), wake: make(chan struct{}, 1)}
}

// committed records what a commit did to bodies; it runs under the
// writer lock, after the commit. named are bodies the commit made a
// contents row name, dropped those it left unnamed.
func (rc *reclaimer) committed(named, dropped []string) {
	if len(named) == 0 && len(dropped) == 0 {
		return
	}
	rc.mu.Lock()
	for _, id := range named {
		delete(rc.candidates, id)
		delete(rc.dropped, id)
	}
	for _, id := range dropped {
		delete(rc.candidates, id)
		rc.dropped[id] = struct{}{}
	}
	rc.mu.Unlock()
	if len(dropped) > 0 {
		select {
		case rc.wake <- struct{}{}:
		default:
		}
	}
}

// ReclaimStats reports a reclamation pass.
type ReclaimStats struct {
	Bodies int   // inline bodies and blob files removed
	Freed  int64 // bytes freed, stale temporary files included
	Kept   int   // unreferenced blob files kept because they are too young
}

// reclaim runs one pass. A full pass also scans for every unreferenced
// body and stale temporary file. minAge < 0 removes files of any age.
func (u *userDB) reclaim(ctx context.Context, full bool, minAge time.Duration) (ReclaimStats, error) {
	rc := u.rc
	rc.passMu.Lock()
	defer rc.passMu.Unlock()
	var st ReclaimStats
	var scanned []string
	if full {
		var err error
		if scanned, err = u.unreferencedBodies(ctx); err != nil {
			return st, err
		}
		freed, err := u.blobs.RemoveStaleTemp()
		st.Freed += freed
		if err != nil {
			return st, err
		}
	}
	// 1. Install the candidates.
	rc.mu.Lock()
	cands := rc.dropped
	rc.dropped = make(map[string]struct{})
	for _, id := range scanned {
		cands[id] = struct{}{}
	}
	rc.candidates = cands
	n := len(cands) // cands is rc.candidates: read only under rc.mu from here
	rc.mu.Unlock()
	requeue := func() {
		rc.mu.Lock()
		for id := range rc.candidates {
			rc.dropped[id] = struct{}{}
		}
		rc.candidates = nil
		rc.mu.Unlock()
	}
	if n == 0 {
		requeue()
		return st, nil
	}
	// 2. Wait for every reader that may have read a row naming one.
	mark := rc.readers.mark()
	if rc.waiting != nil {
		rc.waiting()
	}
	if err := rc.readers.waitBefore(ctx, mark); err != nil {
		requeue()
		return st, err
	}
	// 3. Remove what is still a candidate and still unnamed.
	u.gcMu.Lock()
	defer u.gcMu.Unlock()
	tempFreed := st.Freed
	var files []string
	err := u.write(ctx, func(t *writeTx) error {
		rc.mu.Lock()
		ids := make([]string, 0, len(rc.candidates))
		for id := range rc.candidates {
			ids = append(ids, id)
		}
		rc.mu.Unlock()
		files = files[:0]
		for _, id := range ids {
			var named bool
			if err := t.tx.QueryRowContext(t.ctx,
				`SELECT EXISTS (SELECT 1 FROM contents WHERE blob_id = ?)`, id).Scan(&named); err != nil {
				return fmt.Errorf("reclaim: %w", err)
			}
			if named {
				continue
			}
			var n int64
			err := t.tx.QueryRowContext(t.ctx, `DELETE FROM bodies WHERE id = ? RETURNING length(data)`, id).Scan(&n)
			switch {
			case err == nil:
				st.Bodies++
				st.Freed += n
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("reclaim: %w", err)
			}
			files = append(files, id)
		}
		return nil
	})
	if err != nil {
		st = ReclaimStats{Freed: tempFreed} // the deletions were rolled back
		requeue()
		return st, err
	}
	rc.mu.Lock()
	rc.candidates = nil
	rc.mu.Unlock()
	removed, young, freed, err := u.blobs.Remove(files, minAge)
	st.Bodies += removed
	st.Freed += freed
	st.Kept += len(young)
	if len(young) > 0 {
		rc.mu.Lock()
		for _, id := range young {
			rc.dropped[id] = struct{}{}
		}
		rc.mu.Unlock()
	}
	return st, err
}

// unreferencedBodies lists the inline bodies and blob files no contents
// row names.
func (u *userDB) unreferencedBodies(ctx context.Context) ([]string, error) {
	var out []string
	refs := make(map[string]bool)
	err := u.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT blob_id FROM contents`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			refs[id] = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		rows, err = tx.QueryContext(ctx, `SELECT id FROM bodies`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			if !refs[id] {
				out = append(out, id)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("reclaim scan: %w", err)
	}
	err = u.blobs.IDs(func(id string) error {
		if !refs[id] {
			out = append(out, id)
		}
		return nil
	})
	return out, err
}

// startReclaim runs reclamation in the background: a pass every after
// something was dropped (coalescing what is dropped meanwhile), and a
// full pass soon after opening and then every fullReclaimEvery.
func (u *userDB) startReclaim(every, minAge time.Duration) {
	rc := u.rc
	ctx, cancel := context.WithCancel(context.Background())
	rc.cancel = cancel
	rc.done = make(chan struct{})
	go func() {
		defer close(rc.done)
		full := time.NewTimer(every)
		defer full.Stop()
		// retry fires when a pass kept files too young to remove (or
		// failed): they are queued, and no commit may come to wake us.
		retry := time.NewTimer(time.Hour)
		retry.Stop()
		defer retry.Stop()
		for {
			doFull := false
			select {
			case <-ctx.Done():
				return
			case <-rc.wake:
			case <-retry.C:
			case <-full.C:
				doFull = true
				full.Reset(fullReclaimEvery)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
			// Errors leave the candidates queued for the next pass.
			st, err := u.reclaim(ctx, doFull, minAge)
			if st.Kept > 0 || err != nil {
				retry.Reset(max(minAge, every))
			}
		}
	}()
}

// stopReclaim ends the background reclamation, if any.
func (rc *reclaimer) stop() {
	if rc.cancel != nil {
		rc.cancel()
		<-rc.done
	}
}
