package sqlitestore

import (
	"context"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Repair fixes, in one write transaction, the inconsistencies Check
// reports that can be recomputed from the messages themselves, and returns
// what it changed:
//
//   - STATUS counters (messages, unseen, deleted, size) are recounted from
//     the chunk entries and message rows, as Check counts them;
//   - UIDNEXT is raised above every live or expunged UID, so no UID is
//     handed out twice;
//   - HIGHESTMODSEQ is raised to the largest modseq of the mailbox's
//     messages, tombstones and pruning point;
//   - the durable modseq floor (manifest and meta.modseq_floor) is raised
//     above every HIGHESTMODSEQ and above the database's own floor.
//
// It only ever raises UIDNEXT, HIGHESTMODSEQ and the floor: lowering one
// would let a client mistake new state for state it has seen. It changes
// no message and allocates no modseq, so clients see nothing but the
// corrected values. What it cannot recompute (undecodable chunks, missing
// blobs, message rows without chunk entries) it leaves for Check to report.
func (s *Store) Repair(ctx context.Context, user string) ([]Problem, error) {
	u, err := s.acquire(ctx, user)
	if err != nil {
		return nil, err
	}
	defer s.release(u)
	var fixed []Problem
	err = u.write(ctx, func(t *writeTx) error {
		fixed = nil
		return t.repair(&fixed)
	})
	if err != nil {
		return nil, fmt.Errorf("repair %s: %w", user, err)
	}
	return fixed, nil
}

// recount is what a mailbox's messages say its row should hold.
type recount struct {
	counters  [4]int64 // messages, unseen, deleted, size, as in checkChunks
	maxUID    store.UID
	maxModSeq store.ModSeq
}

func (t *writeTx) repair(fixed *[]Problem) error {
	var mbs []mailboxRow
	if err := t.each(`SELECT `+mailboxColumns+` FROM mailboxes ORDER BY id`, func(r scanner) error {
		m, err := scanMailbox(r)
		mbs = append(mbs, m)
		return err
	}); err != nil {
		return err
	}
	counts, err := t.recount()
	if err != nil {
		return err
	}
	note := func(m mailboxRow, format string, args ...any) {
		*fixed = append(*fixed, Problem{Mailbox: m.Name, What: fmt.Sprintf(format, args...)})
	}
	for _, m := range mbs {
		rc := counts[m.ID]
		if rc == nil {
			rc = &recount{}
		}
		have := [4]int64{int64(m.Messages), int64(m.Unseen), int64(m.Deleted), m.Size}
		if have != rc.counters {
			if _, err := t.tx.ExecContext(t.ctx, `UPDATE mailboxes SET messages = ?, unseen = ?, deleted = ?, size = ? WHERE id = ?`,
				rc.counters[0], rc.counters[1], rc.counters[2], rc.counters[3], m.ID); err != nil {
				return fmt.Errorf("counters: %w", err)
			}
			note(m, "counters messages/unseen/deleted/size were %v, set to %v", have, rc.counters)
		}
		if m.UIDNext <= rc.maxUID && rc.maxUID < store.MaxUID {
			if _, err := t.tx.ExecContext(t.ctx, `UPDATE mailboxes SET uidnext = ? WHERE id = ?`, rc.maxUID+1, m.ID); err != nil {
				return fmt.Errorf("uidnext: %w", err)
			}
			note(m, "UIDNEXT was %d, raised to %d", m.UIDNext, rc.maxUID+1)
		}
		hms := max(m.HighestModSeq, rc.maxModSeq, m.prunedBelow)
		if hms > m.HighestModSeq {
			if _, err := t.tx.ExecContext(t.ctx, `UPDATE mailboxes SET highestmodseq = ? WHERE id = ?`, hms, m.ID); err != nil {
				return fmt.Errorf("highestmodseq: %w", err)
			}
			// Open sessions learn of the new value like of any commit.
			t.touched[m.ID] = hms
			note(m, "HIGHESTMODSEQ was %d, raised to %d", m.HighestModSeq, hms)
		}
		if floor := max(t.u.dbFloor, t.newDBFloor); uint64(hms) >= floor {
			if err := t.ensureFloor(uint64(hms)); err != nil {
				return err
			}
			note(m, "HIGHESTMODSEQ %d not below the durable floor %d, floor raised to %d", hms, floor, t.newDBFloor)
		}
	}
	// A database floor above the manifest's would let a restored copy of
	// this database pass for current.
	if t.u.dbFloor > t.man.ModSeqFloor {
		t.refreshManifest()
	}
	if db := max(t.u.dbFloor, t.newDBFloor); db > t.man.ModSeqFloor {
		manFloor := t.man.ModSeqFloor
		if err := t.ensureFloor(db); err != nil {
			return err
		}
		*fixed = append(*fixed, Problem{What: fmt.Sprintf("database modseq floor %d above the manifest's %d, both raised to %d", db, manFloor, t.man.ModSeqFloor)})
	}
	return nil
}

// recount reads every mailbox's chunk entries, message rows and tombstones
// and returns what its row should say. Undecodable chunks are skipped.
func (t *writeTx) recount() (map[store.MailboxID]*recount, error) {
	out := make(map[store.MailboxID]*recount)
	get := func(id store.MailboxID) *recount {
		if out[id] == nil {
			out[id] = &recount{}
		}
		return out[id]
	}
	var es []entry
	err := t.each(`SELECT mailbox_id, max_modseq, data FROM message_chunks`, func(r scanner) error {
		var id store.MailboxID
		var ms store.ModSeq
		var data []byte
		if err := r.Scan(&id, &ms, &data); err != nil {
			return err
		}
		var err error
		if es, err = decodeEntries(data, ms, es[:0]); err != nil {
			return nil
		}
		rc := get(id)
		for _, e := range es {
			rc.counters[0]++
			if e.flags&store.FlagSeen == 0 {
				rc.counters[1]++
			}
			if e.flags&store.FlagDeleted != 0 {
				rc.counters[2]++
			}
			rc.maxUID = max(rc.maxUID, e.uid)
			rc.maxModSeq = max(rc.maxModSeq, e.modseq)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = t.each(`SELECT mailbox_id, max(uid), sum(size) FROM messages GROUP BY mailbox_id`, func(r scanner) error {
		var id store.MailboxID
		var uid store.UID
		var size int64
		if err := r.Scan(&id, &uid, &size); err != nil {
			return err
		}
		rc := get(id)
		rc.counters[3] = size
		rc.maxUID = max(rc.maxUID, uid)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = t.each(`SELECT mailbox_id, max(uid_stop), max(modseq) FROM tombstones GROUP BY mailbox_id`, func(r scanner) error {
		var id store.MailboxID
		var uid store.UID
		var ms store.ModSeq
		if err := r.Scan(&id, &uid, &ms); err != nil {
			return err
		}
		rc := get(id)
		rc.maxUID = max(rc.maxUID, uid)
		rc.maxModSeq = max(rc.maxModSeq, ms)
		return nil
	})
	return out, err
}

// each runs q in the transaction and calls fn with each row's scanner.
func (t *writeTx) each(q string, fn func(scanner) error, args ...any) error {
	rows, err := t.tx.QueryContext(t.ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
