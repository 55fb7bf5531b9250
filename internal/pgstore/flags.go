package pgstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// statesQuery reads the mutable state of the messages of a mailbox ($1)
// whose UIDs fall in the ranges lo[i]..hi[i] ($2, $3). Without ORDER BY:
// the rows come in UID order from the walk of the primary key, and asked
// to sort them PostgreSQL sorted 100,000 rows through a temporary file
// (past work_mem); states sorts only if they do not.
const statesQuery = statesOfRanges

// changedStatesQuery is statesQuery for messages whose modseq is above $4.
// OFFSET 0 keeps the subquery one per range, so PostgreSQL walks the
// primary key over each range: flattened into a join, its statistics on
// modseq (no longer indexed) made it scan the whole table instead.
const changedStatesQuery = `SELECT m.uid, m.modseq, m.flags, m.keywords
	FROM unnest($2::bigint[], $3::bigint[]) AS r(lo, hi)
	CROSS JOIN LATERAL (SELECT uid, modseq, flags, keywords FROM messages
		WHERE mailbox_id = $1 AND uid BETWEEN r.lo AND r.hi AND modseq > $4 OFFSET 0) m
	ORDER BY m.uid`

const statesOfRanges = `SELECT m.uid, m.modseq, m.flags, m.keywords FROM messages m
	JOIN unnest($2::bigint[], $3::bigint[]) AS r(lo, hi) ON m.uid BETWEEN r.lo AND r.hi
	WHERE m.mailbox_id = $1`

func scanState(r pgx.CollectableRow) (store.MessageState, error) {
	var m store.MessageState
	var flags int16
	var kw []string
	err := r.Scan(&m.UID, &m.ModSeq, &flags, &kw)
	m.Flags.System = store.SystemFlags(flags)
	if len(kw) > 0 {
		m.Flags.Keywords = kw
	}
	return m, err
}

// byUID orders message states by UID.
func byUID(a, b store.MessageState) int { return cmp.Compare(a.UID, b.UID) }

func states(ctx context.Context, q querier, id store.MailboxID, uids store.UIDSet) ([]store.MessageState, error) {
	lo, hi := uidBounds(uids)
	rows, err := q.Query(ctx, statesQuery, id, lo, hi)
	if err != nil {
		return nil, err
	}
	ms, err := pgx.CollectRows(rows, scanState)
	if err == nil && !slices.IsSortedFunc(ms, byUID) {
		slices.SortFunc(ms, byUID)
	}
	return ms, err
}

// SetFlags changes flags as one transaction with one modseq (RFC 7162
// 3.1.3). The UNCHANGEDSINCE test reads each message's modseq inside the
// transaction, under the user's write lock, so no other writer on any node
// can slip a change in between. Messages that end with the same new flags
// are updated by one statement. Nothing is allocated when nothing changes.
func (a *Account) SetFlags(ctx context.Context, id store.MailboxID, uids store.UIDSet, op store.FlagOp, flags store.Flags, unchangedSince store.ModSeq) (store.FlagResult, error) {
	var res store.FlagResult
	if err := store.CheckUIDs(uids); err != nil {
		return res, err
	}
	if op != store.FlagsReplace && op != store.FlagsAdd && op != store.FlagsRemove {
		return res, fmt.Errorf("flag operation %d: %w", op, store.ErrCannot)
	}
	sys, kw, err := normalizeFlags(flags)
	if err != nil {
		return res, err
	}
	change := store.Flags{System: sys, Keywords: kw}
	err = a.write(ctx, func(t *writeTx) error {
		res = store.FlagResult{}
		mb, err := t.mailbox(id)
		if err != nil {
			return err
		}
		// In a mailbox synced with a peer both paths also record the
		// flag history and stamps, each with a statement or two for the
		// whole change.
		if c, ok := systemChangeOf(op, kw); ok && !a.s.opts.rowFlags {
			res, err = t.setSystemFlags(id, mb, uids, op, sys, c, unchangedSince)
			return err
		}
		cur, err := states(t.ctx, t.tx, id, uids)
		if err != nil {
			return err
		}
		type group struct {
			flags store.Flags
			uids  []int64
		}
		type groupKey struct {
			sys store.SystemFlags
			kw  string
		}
		groups := map[groupKey]*group{}
		var order []groupKey
		var d counterDelta
		var ms store.ModSeq
		stamps := flagStamper{from: mb.historyFrom}
		changed := make([]bool, len(cur))
		for i, m := range cur {
			if unchangedSince != 0 && m.ModSeq > unchangedSince {
				res.Modified.Add(m.UID)
				continue
			}
			nf := m.Flags.Apply(op, change)
			nf.System &= allSystemFlags
			if nf.Equal(m.Flags) {
				res.Unchanged = append(res.Unchanged, m)
				continue
			}
			changed[i] = true
			if ms == 0 {
				if ms, err = t.modseq(id); err != nil {
					return err
				}
				res.ModSeq = ms
			}
			d.add(m.Flags.System, 0, -1)
			d.add(nf.System, 0, 1)
			key := groupKey{nf.System, strings.Join(nf.Keywords, " ")}
			g := groups[key]
			if g == nil {
				g = &group{flags: nf}
				groups[key] = g
				order = append(order, key)
			}
			g.uids = append(g.uids, int64(m.UID))
			stamps.add(m.UID, m.Flags, nf)
			res.Changed = append(res.Changed, store.MessageState{UID: m.UID, ModSeq: ms, Flags: nf})
		}
		if len(order) == 0 {
			return nil
		}
		// Every group's UPDATE (with the flag history it keeps first) and
		// the counters go to the server as one pipelined batch.
		batch := &pgx.Batch{}
		for _, k := range order {
			g := groups[k]
			kw := g.flags.Keywords
			if kw == nil {
				kw = []string{}
			}
			t.keepHistory(batch, id, mb.historyFrom, g.uids, ms)
			// uid = ANY of the group's UIDs: PostgreSQL tests it with a
			// hash of the array, faster here than a join with unnest or
			// with UID ranges (measured).
			batch.Queue(`UPDATE messages SET flags = $1, keywords = $2, modseq = $3
				WHERE mailbox_id = $4 AND uid = ANY($5)`, int16(g.flags.System), kw, ms, id, g.uids)
		}
		stamps.queue(batch, id, ms)
		lo, hi := changedRanges(uids, cur, func(i int) bool { return changed[i] })
		pruneChanges(batch, id, ms, lo, hi)
		logChanges(batch, id, ms, lo, hi)
		if d.unseen != 0 || d.deleted != 0 {
			batch.Queue(`UPDATE mailboxes SET unseen = unseen + $1, deleted = deleted + $2 WHERE id = $3`, d.unseen, d.deleted, id)
		}
		if err := t.tx.SendBatch(t.ctx, batch).Close(); err != nil {
			return fmt.Errorf("set flags: %w", err)
		}
		return nil
	})
	if err != nil {
		return store.FlagResult{}, err
	}
	return res, nil
}

// keepHistory queues on batch, before a change at modseq replaced, the
// recording of the flags of those messages of uids whose modseq is at or
// below the mailbox's history point from (a peer's sync point): they are
// the messages' state at that point (store.Replica.FlagsAt). Nothing is
// kept while from is 0.
func (t *writeTx) keepHistory(batch *pgx.Batch, id store.MailboxID, from store.ModSeq, uids []int64, replaced store.ModSeq) {
	if from == 0 || len(uids) == 0 {
		return
	}
	batch.Queue(`INSERT INTO flag_history (mailbox_id, uid, modseq, replaced, flags, keywords)
		SELECT mailbox_id, uid, modseq, $4, flags, keywords FROM messages
		WHERE mailbox_id = $1 AND uid = ANY($2) AND modseq <= $3 ON CONFLICT DO NOTHING`, id, uids, from, replaced)
}
