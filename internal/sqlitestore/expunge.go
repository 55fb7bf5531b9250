package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Expunge removes the messages of uids that exist, leaving tombstones at
// one new modseq. Removing nothing allocates no modseq.
func (a *Account) Expunge(ctx context.Context, id store.MailboxID, uids store.UIDSet) (store.ExpungeResult, error) {
	return a.expunge(ctx, id, uids, 0)
}

// ExpungeDeleted removes the messages of within that carry \Deleted as
// the write transaction reads them, so a flag cleared by another session
// after the caller looked is honoured (RFC 9051 6.4.3).
func (a *Account) ExpungeDeleted(ctx context.Context, id store.MailboxID, within store.UIDSet) (store.ExpungeResult, error) {
	return a.expunge(ctx, id, within, store.FlagDeleted)
}

// expunge removes the messages of uids that exist and carry every flag of
// need, in one transaction at one new modseq.
func (a *Account) expunge(ctx context.Context, id store.MailboxID, uids store.UIDSet, need store.SystemFlags) (store.ExpungeResult, error) {
	var res store.ExpungeResult
	if err := checkUIDs(uids); err != nil {
		return res, err
	}
	err := a.u.write(ctx, func(t *writeTx) error {
		if _, err := t.mailbox(id); err != nil {
			return err
		}
		gone, err := t.removeMessages(id, uids, need)
		if err != nil || gone.Empty() {
			return err
		}
		ms, err := t.modseq(id)
		if err != nil {
			return err
		}
		res.ModSeq = ms
		res.UIDs = gone.UIDs()
		return t.addTombstones(id, gone, ms)
	})
	if err != nil {
		return store.ExpungeResult{}, err
	}
	return res, nil
}

// removeMessages deletes the messages of uids in mailbox id that carry
// every flag of need (their chunk entries and rows), fixes the counters
// and drops contents nothing refers to any more. It returns the UIDs
// removed; the caller adds the tombstones.
func (t *writeTx) removeMessages(id store.MailboxID, uids store.UIDSet, need store.SystemFlags) (store.UIDSet, error) {
	var gone store.UIDSet
	var d counterDelta
	cs, err := loadChunks(t, id, uids)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		kept := c.entries[:0]
		for _, e := range c.entries {
			if uids.Contains(e.uid) && e.flags&need == need {
				gone.Add(e.uid)
				d.add(e.flags, 0, -1)
				continue
			}
			kept = append(kept, e)
		}
		if len(kept) != len(c.entries) {
			c.entries = kept
			c.dirty = true
		}
	}
	if !gone.Empty() {
		if err := t.mergeChunks(id, cs); err != nil {
			return nil, err
		}
	}
	if err := t.saveChunks(cs); err != nil {
		return nil, err
	}
	if err := t.rememberExpunged(id, gone); err != nil {
		return nil, err
	}
	var contents []int64
	for _, r := range gone {
		rows, err := t.q.QueryContext(t.ctx,
			`DELETE FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ? RETURNING size, content_id`,
			id, r.Start, r.Stop)
		if err != nil {
			return nil, fmt.Errorf("expunge: %w", err)
		}
		for rows.Next() {
			var size, content int64
			if err := rows.Scan(&size, &content); err != nil {
				rows.Close()
				return nil, err
			}
			d.size -= size
			contents = append(contents, content)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if err := t.applyCounters(id, d); err != nil {
		return nil, err
	}
	return gone, t.dropUnreferencedContents(contents)
}

// addTombstones records uids as expunged at ms (the tombstones that make
// VANISHED exact, RFC 7162 3.2.10). uids is normalized, so each range is a
// run of consecutive UIDs. A range that touches an existing tombstone, of
// this expunge or of any earlier one, is merged with it into one row at ms,
// the higher modseq: a mailbox whose messages go one at a time keeps one
// row per run of expunged UIDs, not one per expunge. Reporting an expunge
// as later than it was is safe: a client resyncing from a modseq between
// the two is told again of UIDs it no longer has, which VANISHED allows
// (RFC 7162 3.2.10: UIDs the client does not have are ignored).
func (t *writeTx) addTombstones(id store.MailboxID, uids store.UIDSet, ms store.ModSeq) error {
	// The EMAILIDs rememberExpunged noted take this expunge's modseq.
	for _, r := range uids {
		if _, err := t.q.ExecContext(t.ctx, `UPDATE expunged_ids SET modseq = ? WHERE mailbox_id = ? AND uid BETWEEN ? AND ? AND modseq = 0`,
			ms, id, r.Start, r.Stop); err != nil {
			return fmt.Errorf("expunged ids: %w", err)
		}
	}
	for _, r := range uids {
		start, stop := r.Start, r.Stop
		if start > 1 {
			// The tombstone just below, when it ends at start-1.
			var pStart, pStop store.UID
			err := t.q.QueryRowContext(t.ctx, `SELECT uid_start, uid_stop FROM tombstones
				WHERE mailbox_id = ? AND uid_start < ? ORDER BY uid_start DESC LIMIT 1`, id, start).Scan(&pStart, &pStop)
			switch {
			case err == nil && pStop == start-1:
				if _, err := t.q.ExecContext(t.ctx, `DELETE FROM tombstones WHERE mailbox_id = ? AND uid_start = ?`, id, pStart); err != nil {
					return fmt.Errorf("tombstones: %w", err)
				}
				start = pStart
			case err != nil && !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("tombstones: %w", err)
			}
		}
		if stop < store.MaxUID {
			// The tombstone just above, when it starts at stop+1.
			var nStop store.UID
			err := t.q.QueryRowContext(t.ctx, `DELETE FROM tombstones WHERE mailbox_id = ? AND uid_start = ?
				RETURNING uid_stop`, id, stop+1).Scan(&nStop)
			switch {
			case err == nil:
				stop = nStop
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("tombstones: %w", err)
			}
		}
		if _, err := t.q.ExecContext(t.ctx, `INSERT INTO tombstones (mailbox_id, uid_start, uid_stop, modseq) VALUES (?, ?, ?, ?)`,
			id, start, stop, ms); err != nil {
			return fmt.Errorf("tombstones: %w", err)
		}
	}
	return nil
}

// Copy copies messages to dst (RFC 9051 6.4.7); contents are shared, no
// bytes are copied. Copying nothing allocates no modseq.
func (a *Account) Copy(ctx context.Context, src, dst store.MailboxID, uids store.UIDSet) (store.CopyResult, error) {
	return a.copyOrMove(ctx, src, dst, uids, false)
}

// Move moves messages to dst in one transaction (RFC 6851): copies in dst
// and tombstones in src.
func (a *Account) Move(ctx context.Context, src, dst store.MailboxID, uids store.UIDSet) (store.CopyResult, error) {
	return a.copyOrMove(ctx, src, dst, uids, true)
}

func (a *Account) copyOrMove(ctx context.Context, src, dst store.MailboxID, uids store.UIDSet, move bool) (store.CopyResult, error) {
	var res store.CopyResult
	if err := checkUIDs(uids); err != nil {
		return res, err
	}
	progress := store.TrackProgress(ctx)
	err := a.u.write(ctx, func(t *writeTx) error {
		progress.Restart()
		if _, err := t.mailbox(src); err != nil {
			return err
		}
		dm, err := t.mailbox(dst)
		if err != nil {
			return err
		}
		res.UIDValidity = dm.UIDValidity
		type row struct {
			e       entry
			size    int64
			content int64
		}
		var rs []row
		cs, err := loadChunks(t, src, uids)
		if err != nil {
			return err
		}
		for _, c := range cs {
			for _, e := range c.entries {
				if uids.Contains(e.uid) {
					rs = append(rs, row{e: e})
				}
			}
		}
		if len(rs) == 0 {
			return nil
		}
		// The immutable half of each message, by range scans merged with
		// the entries (both ascending by UID).
		i := 0
		for _, r := range uids {
			rows, err := t.q.QueryContext(t.ctx, `SELECT uid, size, content_id FROM messages
				WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid`, src, r.Start, r.Stop)
			if err != nil {
				return fmt.Errorf("copy: %w", err)
			}
			for rows.Next() {
				var uid store.UID
				var size, content int64
				if err := rows.Scan(&uid, &size, &content); err != nil {
					rows.Close()
					return err
				}
				for i < len(rs) && rs[i].e.uid < uid {
					i++
				}
				if i < len(rs) && rs[i].e.uid == uid {
					rs[i].size, rs[i].content = size, content
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		for _, x := range rs {
			if x.content == 0 {
				return fmt.Errorf("copy UID %d: no message row: %w", x.e.uid, store.ErrCannot)
			}
		}
		if uint64(dm.UIDNext)+uint64(len(rs))-1 > uint64(store.MaxUID) {
			return fmt.Errorf("copy: UIDs exhausted in mailbox %q: %w", dm.Name, store.ErrCannot)
		}
		ms, err := t.modseq(dst)
		if err != nil {
			return err
		}
		res.DstModSeq = ms
		ins, err := t.q.PrepareContext(t.ctx, `INSERT INTO messages
			(mailbox_id, uid, savedate, size, content_id) VALUES (?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		now := t.u.now().Unix()
		uid := dm.UIDNext
		var d counterDelta
		var srcSet store.UIDSet
		entries := make([]entry, 0, len(rs))
		for _, x := range rs {
			if _, err := ins.ExecContext(t.ctx, dst, uid, now, x.size, x.content); err != nil {
				return fmt.Errorf("copy: %w", err)
			}
			progress.Step()
			d.add(x.e.flags, x.size, 1)
			entries = append(entries, entry{uid: uid, flags: x.e.flags, kw: x.e.kw, modseq: ms})
			res.SrcUIDs = append(res.SrcUIDs, x.e.uid)
			res.DstUIDs = append(res.DstUIDs, uid)
			srcSet.Add(x.e.uid)
			uid++
		}
		if err := t.appendEntries(dst, entries); err != nil {
			return err
		}
		if _, err := t.q.ExecContext(t.ctx, `UPDATE mailboxes SET uidnext = ? WHERE id = ?`, uid, dst); err != nil {
			return err
		}
		if err := t.applyCounters(dst, d); err != nil {
			return err
		}
		if !move {
			return nil
		}
		if _, err := t.removeMessages(src, srcSet, 0); err != nil {
			return err
		}
		sms, err := t.modseq(src)
		if err != nil {
			return err
		}
		res.SrcModSeq = sms
		return t.addTombstones(src, srcSet, sms)
	})
	if err != nil {
		return store.CopyResult{}, err
	}
	return res, nil
}

// PruneTombstones forgets the tombstones at or below before and records
// it as the mailbox's PrunedBelow; ChangesSince from below it then answers
// with a superset (RFC 7162 3.2.5.2 lets the client narrow it). It changes
// no message, so it allocates no modseq.
func (a *Account) PruneTombstones(ctx context.Context, id store.MailboxID, before store.ModSeq) error {
	return a.u.write(ctx, func(t *writeTx) error {
		mb, err := t.mailbox(id)
		if err != nil {
			return err
		}
		before = min(before, mb.HighestModSeq)
		// Never above what a replica still has to receive: a peer that
		// confirmed less needs the tombstones to tell an expunge here from
		// a message there (docs/replication.md).
		var confirmed sql.NullInt64
		if err := t.q.QueryRowContext(t.ctx, `SELECT min(confirmed) FROM replica_state WHERE guid = ?`, mb.GUID).Scan(&confirmed); err != nil {
			return err
		}
		if confirmed.Valid {
			before = min(before, store.ModSeq(confirmed.Int64))
		}
		if before <= mb.prunedBelow {
			return nil
		}
		if _, err := t.q.ExecContext(t.ctx, `DELETE FROM expunged_ids WHERE mailbox_id = ? AND modseq <= ?`, id, before); err != nil {
			return fmt.Errorf("prune: %w", err)
		}
		if _, err := t.q.ExecContext(t.ctx, `DELETE FROM tombstones WHERE mailbox_id = ? AND modseq <= ?`, id, before); err != nil {
			return fmt.Errorf("prune: %w", err)
		}
		_, err = t.q.ExecContext(t.ctx, `UPDATE mailboxes SET pruned_below = ? WHERE id = ?`, before, id)
		return err
	})
}

// rememberExpunged notes, for a mailbox that is replicated (it has a flag
// history point), the EMAILID of each message about to be expunged, with
// modseq 0 until addTombstones gives it the expunge's: replication tells
// by it whether a peer's message under a UID expunged here is the one that
// was expunged (store.Expunged.EmailIDs).
func (t *writeTx) rememberExpunged(id store.MailboxID, uids store.UIDSet) error {
	if uids.Empty() {
		return nil
	}
	var from int64
	if err := t.q.QueryRowContext(t.ctx, `SELECT history_from FROM mailboxes WHERE id = ?`, id).Scan(&from); err != nil || from == 0 {
		return err
	}
	for _, r := range uids {
		if _, err := t.q.ExecContext(t.ctx, `INSERT OR REPLACE INTO expunged_ids (mailbox_id, uid, email_id, modseq)
			SELECT m.mailbox_id, m.uid, c.email_id, 0 FROM messages m JOIN contents c ON c.id = m.content_id
			WHERE m.mailbox_id = ? AND m.uid BETWEEN ? AND ?`, id, r.Start, r.Stop); err != nil {
			return fmt.Errorf("expunged ids: %w", err)
		}
	}
	return nil
}
