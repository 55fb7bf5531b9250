package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Background merging of the text index. FTS5 writes each append's terms
// as a new segment and merges segments only when FTS5_AUTOMERGE (4) of
// them sit on one level, so a mailbox filled by many appends keeps a dozen
// segments or more, and a search reads each of its needle's trigrams in
// every one of them. Merging all of them at once ('optimize') rewrites the
// whole index in one write transaction (81 s for 100,000 messages), which
// would stop every delivery for as long.
//
// Instead, while the account has had no commit for a while, the store
// runs FTS5's incremental 'merge' in small steps, each its own write
// transaction of at most textMergePages pages, going back to waiting as
// soon as another commit comes. The merge is the one FTS5's 'usermerge'
// setting drives: with it at 2, two segments of one level are merged
// into one of the next, so an index holds at most one segment per level
// (a handful), and each byte is rewritten about once per level, not once
// per idle period as a merge into one segment would.

// textMergePages bounds one merge step (FTS5 pages of 4,000 bytes): a
// write transaction of a few megabytes, which a delivery arriving
// meanwhile waits for at most.
const textMergePages = 500

// textMergeLevel is FTS5's usermerge: how many segments of one level the
// background merge combines.
const textMergeLevel = 2

// textIndexTables are the FTS5 tables the background merge keeps small.
var textIndexTables = []string{"text_body", "text_header", "text_index_fields", "text_body_words"}

// startTextMerge runs the background merge: every idle period without a
// commit, merge steps until the index needs none or a commit comes.
func (u *userDB) startTextMerge(idle time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	u.tm.cancel = cancel
	u.tm.done = make(chan struct{})
	go func() {
		defer close(u.tm.done)
		t := time.NewTicker(idle)
		defer t.Stop()
		seen := u.commits.Load()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if now := u.commits.Load(); now != seen {
				seen = now
				continue // not idle
			}
			seen = u.mergeWhileIdle(ctx, seen)
		}
	}()
}

// mergeWhileIdle runs merge steps while no other commit than its own
// comes; commits is the commit count when it starts, and the count when
// it stops is returned.
func (u *userDB) mergeWhileIdle(ctx context.Context, commits uint64) uint64 {
	steps := 0
	defer func() {
		if steps > 0 {
			u.log.Debug("text index merged", "user", u.name, "steps", steps)
		}
	}()
	for ctx.Err() == nil && u.commits.Load() == commits {
		worked, err := u.mergeTextStep(ctx, textMergePages)
		now := u.commits.Load()
		if now > commits+1 {
			return now // another commit came meanwhile
		}
		commits = now
		if err != nil {
			if ctx.Err() == nil {
				u.log.Warn("text index merge", "user", u.name, "err", err)
			}
			return commits
		}
		if !worked {
			return commits
		}
		steps++
	}
	return commits
}

// mergeTextStep runs one step of FTS5's incremental merge on each text
// index table, of at most pages pages, in one write transaction, and
// reports whether there was work to do. With the index turned off
// (Options.NoTextIndex) there is nothing to keep small.
func (u *userDB) mergeTextStep(ctx context.Context, pages int) (worked bool, err error) {
	if u.noText {
		return false, nil
	}
	err = u.write(ctx, func(t *writeTx) error {
		worked = false
		for _, table := range textIndexTables {
			if !u.tm.configured {
				// Kept in the table's config row; set once per opening,
				// which also sets it in a database from before this code.
				if _, err := t.tx.ExecContext(ctx, `INSERT INTO `+table+` (`+table+`, rank) VALUES ('usermerge', ?)`, textMergeLevel); err != nil {
					return err
				}
			}
			var before, after int64
			if err := t.tx.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&before); err != nil {
				return err
			}
			if _, err := t.tx.ExecContext(ctx, `INSERT INTO `+table+` (`+table+`, rank) VALUES ('merge', ?)`, pages); err != nil {
				return err
			}
			if err := t.tx.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&after); err != nil {
				return err
			}
			// FTS5's documented test: fewer than two changes, no work.
			if after-before >= 2 {
				worked = true
			}
		}
		u.tm.configured = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("text index merge: %w", err)
	}
	return worked, nil
}

// textMerger is the background merge's handle.
type textMerger struct {
	cancel context.CancelFunc
	done   chan struct{}
	// configured: usermerge was set in this opening (written under
	// writeMu, in the write transaction).
	configured bool
}

func (tm *textMerger) stop() {
	if tm.cancel != nil {
		tm.cancel()
		<-tm.done
	}
}

// textSegments returns how many segments an FTS5 table's index has, read
// from its structure record (row 10 of its _data table: a 4-byte cookie,
// in newer versions a 4-byte version marker, then varints: the number of
// levels, then of segments).
func textSegments(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, table string) (int, error) {
	var rec []byte
	if err := q.QueryRowContext(ctx, `SELECT block FROM `+table+`_data WHERE id = 10`).Scan(&rec); err != nil {
		return 0, err
	}
	if len(rec) < 4 {
		return 0, errBadStructure
	}
	rec = rec[4:]
	if len(rec) >= 4 && rec[0] == 0xff && rec[1] == 0 && rec[2] == 0 && rec[3] == 1 {
		rec = rec[4:]
	}
	_, n := sqliteVarint(rec)
	if n == 0 {
		return 0, errBadStructure
	}
	segs, m := sqliteVarint(rec[n:])
	if m == 0 {
		return 0, errBadStructure
	}
	return int(segs), nil
}

var errBadStructure = errors.New("text index: unreadable FTS5 structure record")

// sqliteVarint decodes SQLite's big-endian varint (7 bits a byte, the
// ninth byte whole), returning the value and its length (0: truncated).
func sqliteVarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 9; i++ {
		if i == 8 {
			return v<<8 | uint64(b[i]), 9
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}
