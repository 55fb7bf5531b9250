package pgstore

import (
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// A change of system flags alone (+FLAGS and -FLAGS without keywords,
// FLAGS with none) gives every message new flags that follow from its old
// ones by one SQL expression, so setSystemFlags makes it with one UPDATE
// over the asked UID ranges instead of reading every message's state and
// sending back the UIDs of each group of new flags. For STORE 1:* over
// 100,000 messages that is one range walk of the primary key and one
// heap-only rewrite per changed row, where the general path read 100,000
// states (sorted through a temporary file once past work_mem), then probed
// the primary key once per UID of a 100,000-element array (about seven
// times the buffer reads, measured with EXPLAIN (ANALYZE, BUFFERS)).
//
// What the general path computed in Go from the states it read is asked of
// the database instead, in the same pipelined batch: before the UPDATE (a
// batch's statements run in order inside the transaction), the counts
// that STATUS keeps, when the change may move them; after it, the messages
// the write left alone (reported as Unchanged, or Modified when they fail
// UNCHANGEDSINCE), unless the mailbox's message count shows there are none.
// In a mailbox synced with a peer, also before the UPDATE and over the same
// rows, the flag history and stamps (queueReplicaRecords), so such a
// mailbox needs no other path. What they cost is their rows, not the path:
// for a STORE over 100,000 messages, the foreign-key check of each new
// flag_stamps or flag_history row, or the rewrite of each existing stamp,
// took several times the UPDATE itself (auto_explain; docs/benchmarks.md).

// systemChange is the SQL of one system-flag operation on messages m: the
// new flags, the keywords column's new value ("" to keep it), and the test
// that the row changes. $4 is the operation's flags.
type systemChange struct {
	newFlags, newKeywords, changes string
}

// systemChangeOf returns the SQL of op with flags sys and keywords kw, and
// false when the operation involves keywords (the general path).
func systemChangeOf(op store.FlagOp, kw []string) (systemChange, bool) {
	switch {
	case op == store.FlagsAdd && len(kw) == 0:
		return systemChange{newFlags: `m.flags | $4::smallint`, changes: `m.flags & $4::smallint <> $4::smallint`}, true
	case op == store.FlagsRemove && len(kw) == 0:
		return systemChange{newFlags: `m.flags & ~$4::smallint`, changes: `m.flags & $4::smallint <> 0`}, true
	case op == store.FlagsReplace && len(kw) == 0:
		return systemChange{newFlags: `$4::smallint`, newKeywords: `'{}'`,
			changes: `(m.flags <> $4::smallint OR cardinality(m.keywords) > 0)`}, true
	}
	return systemChange{}, false
}

// inRanges joins messages m of mailbox $1 with the UID ranges $2..$3.
const inRanges = ` FROM unnest($2::bigint[], $3::bigint[]) AS r(lo, hi)
	JOIN messages m ON m.mailbox_id = $1 AND m.uid BETWEEN r.lo AND r.hi`

// passesSince is the UNCHANGEDSINCE test on $5 (0: none).
const passesSince = `($5::bigint = 0 OR m.modseq <= $5::bigint)`

// setSystemFlags is SetFlags for an operation systemChangeOf accepted, at
// predicted modseq ms (what t.modseq would allocate; the UPDATE writes it
// before the mailbox row is raised to it).
func (t *writeTx) setSystemFlags(id store.MailboxID, mb mailboxRow, uids store.UIDSet, op store.FlagOp, sys store.SystemFlags, c systemChange, unchangedSince store.ModSeq) (store.FlagResult, error) {
	var res store.FlagResult
	var asked store.UIDSet // overlapping ranges would repeat rows
	for _, r := range uids {
		asked.AddRange(r.Start, r.Stop)
	}
	lo, hi := uidBounds(asked)
	ms := t.touched[id]
	if ms == 0 {
		ms = max(mb.HighestModSeq+1, t.atLeast)
	}
	args := []any{id, lo, hi, int16(sys), int64(unchangedSince)}
	changes := c.changes + ` AND ` + passesSince

	batch := &pgx.Batch{}
	// Planned for the ranges at hand: a generic plan (which pgx's cached
	// statements get after five runs) estimates every range as large and
	// walked the whole mailbox for a STORE of one message (measured: about
	// 9,000 buffer reads per one-UID STORE at 100,000 messages).
	batch.Queue(`SET LOCAL plan_cache_mode = force_custom_plan`)
	// The counts STATUS keeps move only when \Seen or \Deleted may.
	before := struct{ unseen, deleted, n int64 }{n: -1}
	if op == store.FlagsReplace || sys&(store.FlagSeen|store.FlagDeleted) != 0 {
		batch.Queue(`SELECT count(*) FILTER (WHERE m.flags & 1 = 0), count(*) FILTER (WHERE m.flags & 8 <> 0), count(*)`+
			inRanges+` WHERE `+changes, args...).QueryRow(func(row pgx.Row) error {
			return row.Scan(&before.unseen, &before.deleted, &before.n)
		})
	}
	if mb.historyFrom != 0 {
		queueReplicaRecords(batch, c, op, args, ms, mb.historyFrom)
	}
	// The keywords come back only where there are some: most messages
	// have none, and an empty array per row of 100,000 costs its decoding.
	set := `flags = ` + c.newFlags + `, modseq = $6`
	if c.newKeywords != "" {
		set += `, keywords = ` + c.newKeywords
	}
	batch.Queue(`UPDATE messages m SET `+set+` FROM unnest($2::bigint[], $3::bigint[]) AS r(lo, hi)
		WHERE m.mailbox_id = $1 AND m.uid BETWEEN r.lo AND r.hi AND `+changes+`
		RETURNING m.uid, m.flags, CASE WHEN cardinality(m.keywords) > 0 THEN m.keywords END`, append(args, int64(ms))...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			m := store.MessageState{ModSeq: ms}
			var flags int16
			var kw []string
			if err := rows.Scan(&m.UID, &flags, &kw); err != nil {
				return err
			}
			m.Flags.System = store.SystemFlags(flags)
			if len(kw) > 0 {
				m.Flags.Keywords = kw
			}
			res.Changed = append(res.Changed, m)
		}
		return rows.Err()
	})
	var others []store.MessageState
	var passed []bool
	// The messages left alone, read after the UPDATE: every row it
	// changed now has modseq ms, which no other row has, and the others
	// are as they were.
	queueOthers := func(batch *pgx.Batch) {
		batch.Queue(`SELECT m.uid, m.modseq, m.flags, m.keywords, ($4::bigint = 0 OR m.modseq <= $4::bigint)`+inRanges+
			` WHERE m.modseq <> $5`, id, lo, hi, int64(unchangedSince), int64(ms)).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var m store.MessageState
				var flags int16
				var kw []string
				var ok bool
				if err := rows.Scan(&m.UID, &m.ModSeq, &flags, &kw, &ok); err != nil {
					return err
				}
				m.Flags.System = store.SystemFlags(flags)
				if len(kw) > 0 {
					m.Flags.Keywords = kw
				}
				others = append(others, m)
				passed = append(passed, ok)
			}
			return rows.Err()
		})
	}
	// When the set holds every UID the mailbox has given, the mailbox's
	// message count says whether any message was left alone; STORE 1:*
	// that changes everything then reads nothing more.
	whole := len(asked) > 0 && asked[0].Start == 1 && asked[0].Stop >= mb.UIDNext-1
	if !whole {
		queueOthers(batch)
	}
	if err := t.tx.SendBatch(t.ctx, batch).Close(); err != nil {
		return store.FlagResult{}, fmt.Errorf("set flags: %w", err)
	}
	if whole && len(res.Changed) != int(mb.Messages) {
		batch = &pgx.Batch{}
		queueOthers(batch)
		if err := t.tx.SendBatch(t.ctx, batch).Close(); err != nil {
			return store.FlagResult{}, fmt.Errorf("set flags: %w", err)
		}
	}

	// Ranges may give rows in any order; they come sorted from the
	// primary key walk, so the test is all that is paid.
	if !slices.IsSortedFunc(res.Changed, byUID) {
		slices.SortFunc(res.Changed, byUID)
	}
	if !slices.IsSortedFunc(others, byUID) {
		// passed must follow its messages.
		idx := make([]int, len(others))
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(a, b int) int { return byUID(others[a], others[b]) })
		o, p := make([]store.MessageState, len(others)), make([]bool, len(others))
		for i, j := range idx {
			o[i], p[i] = others[j], passed[j]
		}
		others, passed = o, p
	}
	for i, m := range others {
		if passed[i] {
			res.Unchanged = append(res.Unchanged, m)
		} else {
			res.Modified.Add(m.UID)
		}
	}
	if len(res.Changed) == 0 {
		return res, nil
	}
	if before.n >= 0 && int64(len(res.Changed)) != before.n {
		return store.FlagResult{}, fmt.Errorf("set flags: %d messages counted, %d changed", before.n, len(res.Changed))
	}
	res.ModSeq = ms

	var d counterDelta
	d.unseen, d.deleted = systemCounterDelta(op, sys, before.n, before.unseen, before.deleted)
	lo, hi = mergedChangedRanges(asked, res.Changed, others)
	batch = &pgx.Batch{}
	batch.Queue(`UPDATE mailboxes SET highestmodseq = $2, unseen = unseen + $3, deleted = deleted + $4
		WHERE id = $1 AND highestmodseq <= $2`, id, int64(ms), d.unseen, d.deleted).Exec(func(ct pgconn.CommandTag) error {
		if ct.RowsAffected() != 1 {
			return fmt.Errorf("mailbox %d moved past modseq %d during the write", id, ms)
		}
		return nil
	})
	pruneChanges(batch, id, ms, lo, hi)
	logChanges(batch, id, ms, lo, hi)
	if err := t.tx.SendBatch(t.ctx, batch).Close(); err != nil {
		return store.FlagResult{}, fmt.Errorf("set flags: %w", err)
	}
	t.touched[id] = ms
	return res, nil
}

// queueReplicaRecords queues, before the UPDATE of setSystemFlags in a
// mailbox synced with a peer (history point from set), what the change
// records for replication, each as one statement over the same rows as the
// UPDATE, reading the flags they have before it: the flags of those whose
// modseq is at or below from (flag_history, as keepHistory), and the
// change's modseq ms as the stamp of each flag it changes on each
// (flag_stamps, as flagStamper: the system flags the new value flips, and
// for FLAGS every keyword it drops, lowercased, once). args are those of
// the UPDATE's condition ($1-$5).
func queueReplicaRecords(batch *pgx.Batch, c systemChange, op store.FlagOp, args []any, ms, from store.ModSeq) {
	changes := c.changes + ` AND ` + passesSince
	batch.Queue(`INSERT INTO flag_history (mailbox_id, uid, modseq, replaced, flags, keywords)
		SELECT m.mailbox_id, m.uid, m.modseq, $6, m.flags, m.keywords`+inRanges+`
		WHERE `+changes+` AND m.modseq <= $7 ON CONFLICT DO NOTHING`, append(args, int64(ms), int64(from))...)
	var bits []int16
	var names []string
	for bit := store.SystemFlags(1); bit <= store.FlagDraft; bit <<= 1 {
		bits = append(bits, int16(bit))
		names = append(names, store.FlagName(bit, ""))
	}
	flipped := `SELECT f.name FROM unnest($7::smallint[], $8::text[]) AS f(bit, name)
		WHERE (m.flags # (` + c.newFlags + `)) & f.bit <> 0`
	if op == store.FlagsReplace {
		flipped += ` UNION SELECT lower(k) FROM unnest(m.keywords) AS k`
	}
	batch.Queue(`INSERT INTO flag_stamps (mailbox_id, uid, flag, stamp)
		SELECT m.mailbox_id, m.uid, x.name, $6`+inRanges+`
		CROSS JOIN LATERAL (`+flipped+`) AS x(name)
		WHERE `+changes+`
		ON CONFLICT (mailbox_id, uid, flag) DO UPDATE SET stamp = excluded.stamp`, append(args, int64(ms), bits, names)...)
}

// systemCounterDelta returns how the unseen and deleted counters move when
// op with flags sys changes n messages, of which unseen lacked \Seen and
// deleted had \Deleted before.
func systemCounterDelta(op store.FlagOp, sys store.SystemFlags, n, unseen, deleted int64) (dUnseen, dDeleted int64) {
	seen, del := sys&store.FlagSeen != 0, sys&store.FlagDeleted != 0
	switch op {
	case store.FlagsAdd:
		if seen {
			dUnseen = -unseen
		}
		if del {
			dDeleted = n - deleted
		}
	case store.FlagsRemove:
		if seen {
			dUnseen = n - unseen
		}
		if del {
			dDeleted = -deleted
		}
	case store.FlagsReplace:
		if seen {
			dUnseen = -unseen
		} else {
			dUnseen = n - unseen
		}
		if del {
			dDeleted = n - deleted
		} else {
			dDeleted = -deleted
		}
	}
	return dUnseen, dDeleted
}

// mergedChangedRanges is changedRanges for messages given as two lists
// ascending by UID: those that changed and the others of the asked set.
func mergedChangedRanges(asked store.UIDSet, changed, others []store.MessageState) (lo, hi []int64) {
	i, j := 0, 0
	return rangesOfChanges(asked, func() (store.UID, bool, bool) {
		switch {
		case i < len(changed) && (j == len(others) || changed[i].UID < others[j].UID):
			i++
			return changed[i-1].UID, true, true
		case j < len(others):
			j++
			return others[j-1].UID, false, true
		}
		return 0, false, false
	})
}
