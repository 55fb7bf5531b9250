package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetx"
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
	if err := store.CheckUIDs(uids); err != nil {
		return store.ExpungeResult{}, err
	}
	var res store.ExpungeResult
	err := a.u.write(ctx, func(t *writeTx) (err error) {
		res, err = storetx.Expunge(t, id, uids, need)
		return err
	})
	if err != nil {
		return store.ExpungeResult{}, err
	}
	return res, nil
}

// RemoveMessages implements storetx.Expunger.
func (t *writeTx) RemoveMessages(id store.MailboxID, uids store.UIDSet, need store.SystemFlags) (store.UIDSet, error) {
	return t.removeMessages(id, uids, need)
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

// addTombstones records uids, removed from mailbox id, as expunged at ms
// (storetx.AddTombstones).
func (t *writeTx) addTombstones(id store.MailboxID, uids store.UIDSet, ms store.ModSeq) error {
	return storetx.AddTombstones(t, id, uids, ms)
}

// StampExpungedIDs implements storetx.Expunger.
func (t *writeTx) StampExpungedIDs(id store.MailboxID, uids store.UIDSet, ms store.ModSeq) error {
	for _, r := range uids {
		if _, err := t.q.ExecContext(t.ctx, `UPDATE expunged_ids SET modseq = ? WHERE mailbox_id = ? AND uid BETWEEN ? AND ? AND modseq = 0`,
			ms, id, r.Start, r.Stop); err != nil {
			return err
		}
	}
	return nil
}

// TakeTombstoneEndingAt implements storetx.Expunger. Tombstones are keyed
// by their start, so the one ending at uid is found as the nearest below.
func (t *writeTx) TakeTombstoneEndingAt(id store.MailboxID, uid store.UID) (store.UID, bool, error) {
	var start, stop store.UID
	err := t.q.QueryRowContext(t.ctx, `SELECT uid_start, uid_stop FROM tombstones
		WHERE mailbox_id = ? AND uid_start < ? ORDER BY uid_start DESC LIMIT 1`, id, uid+1).Scan(&start, &stop)
	if errors.Is(err, sql.ErrNoRows) || err == nil && stop != uid {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	_, err = t.q.ExecContext(t.ctx, `DELETE FROM tombstones WHERE mailbox_id = ? AND uid_start = ?`, id, start)
	return start, err == nil, err
}

// TakeTombstoneStartingAt implements storetx.Expunger.
func (t *writeTx) TakeTombstoneStartingAt(id store.MailboxID, uid store.UID) (store.UID, bool, error) {
	var stop store.UID
	err := t.q.QueryRowContext(t.ctx, `DELETE FROM tombstones WHERE mailbox_id = ? AND uid_start = ? RETURNING uid_stop`, id, uid).Scan(&stop)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return stop, err == nil, err
}

// InsertTombstone implements storetx.Expunger.
func (t *writeTx) InsertTombstone(id store.MailboxID, start, stop store.UID, ms store.ModSeq) error {
	_, err := t.q.ExecContext(t.ctx, `INSERT INTO tombstones (mailbox_id, uid_start, uid_stop, modseq) VALUES (?, ?, ?, ?)`,
		id, start, stop, ms)
	return err
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
	if err := store.CheckUIDs(uids); err != nil {
		return store.CopyResult{}, err
	}
	var res store.CopyResult
	err := a.u.write(ctx, func(t *writeTx) (err error) {
		res, err = storetx.Copy(t, src, dst, uids, move)
		return err
	})
	if err != nil {
		return store.CopyResult{}, err
	}
	return res, nil
}

// CopyMessages implements storetx.Copier: the entries come from src's
// chunks, the immutable half of each message from its row.
func (t *writeTx) CopyMessages(src store.MailboxID, uids store.UIDSet, dm storetx.Mailbox) ([]store.UID, store.ModSeq, error) {
	type row struct {
		e       entry
		size    int64
		content int64
	}
	var rs []row
	cs, err := loadChunks(t, src, uids)
	if err != nil {
		return nil, 0, err
	}
	for _, c := range cs {
		for _, e := range c.entries {
			if uids.Contains(e.uid) {
				rs = append(rs, row{e: e})
			}
		}
	}
	if len(rs) == 0 {
		return nil, 0, nil
	}
	// The immutable half of each message, by range scans merged with the
	// entries (both ascending by UID).
	i := 0
	for _, r := range uids {
		rows, err := t.q.QueryContext(t.ctx, `SELECT uid, size, content_id FROM messages
			WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid`, src, r.Start, r.Stop)
		if err != nil {
			return nil, 0, fmt.Errorf("copy: %w", err)
		}
		for rows.Next() {
			var uid store.UID
			var size, content int64
			if err := rows.Scan(&uid, &size, &content); err != nil {
				rows.Close()
				return nil, 0, err
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
			return nil, 0, err
		}
	}
	for _, x := range rs {
		if x.content == 0 {
			return nil, 0, fmt.Errorf("copy UID %d: no message row: %w", x.e.uid, store.ErrCannot)
		}
	}
	if err := storetx.CheckUIDRoom(dm, len(rs)); err != nil {
		return nil, 0, err
	}
	ms, err := t.modseq(dm.ID)
	if err != nil {
		return nil, 0, err
	}
	ins, err := t.q.PrepareContext(t.ctx, `INSERT INTO messages
		(mailbox_id, uid, savedate, size, content_id) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, 0, err
	}
	defer ins.Close()
	now := t.u.now().Unix()
	uid := dm.UIDNext
	var d counterDelta
	copied := make([]store.UID, 0, len(rs))
	entries := make([]entry, 0, len(rs))
	progress := store.TrackProgress(t.ctx) // one per attempt: a retry counts from zero
	for _, x := range rs {
		if _, err := ins.ExecContext(t.ctx, dm.ID, uid, now, x.size, x.content); err != nil {
			return nil, 0, fmt.Errorf("copy: %w", err)
		}
		progress.Step()
		d.add(x.e.flags, x.size, 1)
		entries = append(entries, entry{uid: uid, flags: x.e.flags, kw: x.e.kw, modseq: ms})
		copied = append(copied, x.e.uid)
		uid++
	}
	if err := t.appendEntries(dm.ID, entries); err != nil {
		return nil, 0, err
	}
	if _, err := t.q.ExecContext(t.ctx, `UPDATE mailboxes SET uidnext = ? WHERE id = ?`, uid, dm.ID); err != nil {
		return nil, 0, err
	}
	return copied, ms, t.applyCounters(dm.ID, d)
}

// PruneTombstones forgets the tombstones at or below before
// (storetx.PruneTombstones).
func (a *Account) PruneTombstones(ctx context.Context, id store.MailboxID, before store.ModSeq) error {
	return a.u.write(ctx, func(t *writeTx) error {
		return storetx.PruneTombstones(t, id, before)
	})
}

// ReplicaConfirmed implements storetx.Expunger.
func (t *writeTx) ReplicaConfirmed(guid string) (store.ModSeq, bool, error) {
	var confirmed sql.NullInt64
	err := t.q.QueryRowContext(t.ctx, `SELECT min(confirmed) FROM replica_state WHERE guid = ?`, guid).Scan(&confirmed)
	return store.ModSeq(confirmed.Int64), confirmed.Valid, err
}

// DropTombstones implements storetx.Expunger.
func (t *writeTx) DropTombstones(id store.MailboxID, before store.ModSeq) error {
	if _, err := t.q.ExecContext(t.ctx, `DELETE FROM expunged_ids WHERE mailbox_id = ? AND modseq <= ?`, id, before); err != nil {
		return err
	}
	if _, err := t.q.ExecContext(t.ctx, `DELETE FROM tombstones WHERE mailbox_id = ? AND modseq <= ?`, id, before); err != nil {
		return err
	}
	_, err := t.q.ExecContext(t.ctx, `UPDATE mailboxes SET pruned_below = ? WHERE id = ?`, before, id)
	return err
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

// The index rows of dropped contents, deleted behind.
//
// Deleting a contents row's FTS5 rows cost a one-message expunge more
// than the rest of its transaction: FTS5 writes deletions as tombstones
// into each segment that may hold the rowid when it flushes its pending
// data (at the next statement savepoint or at the commit), so each commit
// of one small expunge paid a flush of the three tables for one rowid.
// Rows left behind are harmless to SEARCH: contents ids are AUTOINCREMENT,
// never taken again, and every answer of the index reaches messages
// through the contents ids of the mailbox's messages rows (a join, or the
// merge of textmap.go), which a dropped contents row no longer has. So,
// where the index is written behind (Options.TextIndexBehind, tidemark
// serve), a transaction that drops at most textDropMax contents records their ids
// (meta rows textDropKey+id, the id as value, in the same transaction) and
// their index rows are deleted later with many others, in one flush: by
// the background indexer's next batch (textbehind.go), or by the
// transaction that brings the recorded ids to textDropMax, which bounds
// what a store without appends keeps.
const (
	textDropKey = "text_index_drop:"
	// textDropEnd is the first key after every textDropKey+id (';'
	// follows ':').
	textDropEnd = "text_index_drop;"
)

// textDropMax bounds the contents whose index rows wait; a variable for
// tests.
var textDropMax = 256

// unindexDropped deletes the index rows of the dropped contents ids, or
// records them for later.
func (t *writeTx) unindexDropped(ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if !t.u.textBehind || len(ids) > textDropMax {
		for _, id := range ids {
			if err := t.unindexContent(id); err != nil {
				return err
			}
		}
		return nil
	}
	for _, id := range ids {
		if _, err := t.q.ExecContext(t.ctx, `INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)`,
			textDropKey+strconv.FormatInt(id, 10), id); err != nil {
			return fmt.Errorf("text index: %w", err)
		}
	}
	var n int
	if err := t.q.QueryRowContext(t.ctx, `SELECT count(*) FROM meta WHERE key > ? AND key < ?`, textDropKey, textDropEnd).Scan(&n); err != nil {
		return fmt.Errorf("text index: %w", err)
	}
	if n >= textDropMax {
		return t.applyTextDrops()
	}
	return nil
}

// applyTextDrops deletes the index rows of every contents id recorded by
// unindexDropped, and the records.
func (t *writeTx) applyTextDrops() error {
	rows, err := t.q.QueryContext(t.ctx, `SELECT value FROM meta WHERE key > ? AND key < ?`, textDropKey, textDropEnd)
	if err != nil {
		return fmt.Errorf("text index: %w", err)
	}
	ids, err := scanColumn[int64](rows)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	for _, id := range ids {
		if err := t.unindexContent(id); err != nil {
			return err
		}
	}
	_, err = t.q.ExecContext(t.ctx, `DELETE FROM meta WHERE key > ? AND key < ?`, textDropKey, textDropEnd)
	return err
}
