package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetx"
)

// Expunge removes the messages of uids that exist, leaving tombstones at
// one new modseq. Removing nothing allocates no modseq.
func (a *Account) Expunge(ctx context.Context, id store.MailboxID, uids store.UIDSet) (store.ExpungeResult, error) {
	return a.expunge(ctx, id, uids, 0)
}

// ExpungeDeleted removes the messages of within that carry \Deleted as
// the write transaction reads them (RFC 9051 6.4.3), on whichever node
// the flag was set.
func (a *Account) ExpungeDeleted(ctx context.Context, id store.MailboxID, within store.UIDSet) (store.ExpungeResult, error) {
	return a.expunge(ctx, id, within, store.FlagDeleted)
}

func (a *Account) expunge(ctx context.Context, id store.MailboxID, uids store.UIDSet, need store.SystemFlags) (store.ExpungeResult, error) {
	if err := store.CheckUIDs(uids); err != nil {
		return store.ExpungeResult{}, err
	}
	var res store.ExpungeResult
	err := a.write(ctx, func(t *writeTx) (err error) {
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
// every flag of need, fixes the counters and drops contents nothing refers
// to any more. It returns the UIDs removed; the caller adds tombstones.
func (t *writeTx) removeMessages(id store.MailboxID, uids store.UIDSet, need store.SystemFlags) (store.UIDSet, error) {
	lo, hi := uidBounds(uids)
	if err := t.rememberExpunged(id, lo, hi, need); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(t.ctx, `DELETE FROM messages m USING unnest($2::bigint[], $3::bigint[]) AS r(lo, hi)
		WHERE m.mailbox_id = $1 AND m.uid BETWEEN r.lo AND r.hi AND m.flags & $4 = $4
		RETURNING m.uid, m.flags, m.size, m.content_id`, id, lo, hi, int16(need))
	if err != nil {
		return nil, fmt.Errorf("expunge: %w", err)
	}
	var d counterDelta
	var uidList []store.UID
	var contents []int64
	for rows.Next() {
		var uid store.UID
		var flags int16
		var size, content int64
		if err := rows.Scan(&uid, &flags, &size, &content); err != nil {
			rows.Close()
			return nil, err
		}
		d.add(store.SystemFlags(flags), size, -1)
		uidList = append(uidList, uid)
		contents = append(contents, content)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("expunge: %w", err)
	}
	sortUIDs(uidList)
	var gone store.UIDSet
	for _, u := range uidList {
		gone.Add(u)
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
	lo, hi := uidBounds(uids)
	if len(lo) == 0 {
		return nil
	}
	_, err := t.tx.Exec(t.ctx, `UPDATE expunged_ids e SET modseq = $4 FROM unnest($2::bigint[], $3::bigint[]) AS r(lo, hi)
		WHERE e.mailbox_id = $1 AND e.uid BETWEEN r.lo AND r.hi AND e.modseq = 0`, id, lo, hi, ms)
	return err
}

// TakeTombstoneEndingAt implements storetx.Expunger.
func (t *writeTx) TakeTombstoneEndingAt(id store.MailboxID, uid store.UID) (store.UID, bool, error) {
	var start store.UID
	err := t.tx.QueryRow(t.ctx, `DELETE FROM tombstones WHERE mailbox_id = $1 AND uid_stop = $2
		RETURNING uid_start`, id, int64(uid)).Scan(&start)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return start, err == nil, err
}

// TakeTombstoneStartingAt implements storetx.Expunger.
func (t *writeTx) TakeTombstoneStartingAt(id store.MailboxID, uid store.UID) (store.UID, bool, error) {
	var stop store.UID
	err := t.tx.QueryRow(t.ctx, `DELETE FROM tombstones WHERE mailbox_id = $1 AND uid_start = $2
		RETURNING uid_stop`, id, int64(uid)).Scan(&stop)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return stop, err == nil, err
}

// InsertTombstone implements storetx.Expunger.
func (t *writeTx) InsertTombstone(id store.MailboxID, start, stop store.UID, ms store.ModSeq) error {
	_, err := t.tx.Exec(t.ctx, `INSERT INTO tombstones (mailbox_id, uid_start, uid_stop, modseq) VALUES ($1, $2, $3, $4)`,
		id, start, stop, ms)
	return err
}

// Copy copies messages to dst (RFC 9051 6.4.7) with one INSERT ... SELECT;
// contents are shared, no bytes are copied. Copying nothing allocates no
// modseq.
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
	now := a.s.now().Unix()
	err := a.write(ctx, func(t *writeTx) (err error) {
		res, err = storetx.Copy(copier{t, now}, src, dst, uids, move)
		return err
	})
	if err != nil {
		return store.CopyResult{}, err
	}
	return res, nil
}

// copier is a write transaction that copies messages saved at savedate
// (Unix seconds; RFC 8514 SAVEDATE).
type copier struct {
	*writeTx
	savedate int64
}

// CopyMessages implements storetx.Copier with one INSERT ... SELECT.
func (c copier) CopyMessages(src store.MailboxID, uids store.UIDSet, dm storetx.Mailbox) ([]store.UID, store.ModSeq, error) {
	t := c.writeTx
	lo, hi := uidBounds(uids)
	rows, err := t.tx.Query(t.ctx, `SELECT m.uid, m.flags, m.size FROM messages m
		JOIN unnest($2::bigint[], $3::bigint[]) AS r(lo, hi) ON m.uid BETWEEN r.lo AND r.hi
		WHERE m.mailbox_id = $1 ORDER BY m.uid`, src, lo, hi)
	if err != nil {
		return nil, 0, err
	}
	var d counterDelta
	var srcUIDs []int64
	var copied []store.UID
	for rows.Next() {
		var uid, size int64
		var flags int16
		if err := rows.Scan(&uid, &flags, &size); err != nil {
			rows.Close()
			return nil, 0, err
		}
		d.add(store.SystemFlags(flags), size, 1)
		srcUIDs = append(srcUIDs, uid)
		copied = append(copied, store.UID(uid))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	if len(copied) == 0 {
		return nil, 0, nil
	}
	if err := storetx.CheckUIDRoom(dm, len(copied)); err != nil {
		return nil, 0, err
	}
	ms, err := t.modseq(dm.ID)
	if err != nil {
		return nil, 0, err
	}
	// The i-th source message (ascending UID) becomes UIDNEXT+i.
	_, err = t.tx.Exec(t.ctx, `INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, savedate, size, content_id)
		SELECT $1, $2 + row_number() OVER (ORDER BY m.uid) - 1, $3, m.flags, m.keywords, $4, m.size, m.content_id
		FROM messages m WHERE m.mailbox_id = $5 AND m.uid = ANY($6)`,
		dm.ID, int64(dm.UIDNext), ms, c.savedate, src, srcUIDs)
	if err != nil {
		return nil, 0, fmt.Errorf("copy: %w", err)
	}
	next := dm.UIDNext + store.UID(len(copied))
	if _, err := t.tx.Exec(t.ctx, `UPDATE mailboxes SET uidnext = $1 WHERE id = $2`, next, dm.ID); err != nil {
		return nil, 0, err
	}
	return copied, ms, t.applyCounters(dm.ID, d)
}

// PruneTombstones forgets the tombstones at or below before
// (storetx.PruneTombstones).
func (a *Account) PruneTombstones(ctx context.Context, id store.MailboxID, before store.ModSeq) error {
	return a.write(ctx, func(t *writeTx) error {
		return storetx.PruneTombstones(t, id, before)
	})
}

// ReplicaConfirmed implements storetx.Expunger.
func (t *writeTx) ReplicaConfirmed(guid string) (store.ModSeq, bool, error) {
	var confirmed *int64
	err := t.tx.QueryRow(t.ctx, `SELECT min(confirmed) FROM replica_state WHERE user_id = $1 AND guid = $2`,
		t.userID, guid).Scan(&confirmed)
	if err != nil || confirmed == nil {
		return 0, false, err
	}
	return store.ModSeq(*confirmed), true, nil
}

// DropTombstones implements storetx.Expunger.
func (t *writeTx) DropTombstones(id store.MailboxID, before store.ModSeq) error {
	if _, err := t.tx.Exec(t.ctx, `DELETE FROM expunged_ids WHERE mailbox_id = $1 AND modseq <= $2`, id, before); err != nil {
		return err
	}
	if _, err := t.tx.Exec(t.ctx, `DELETE FROM tombstones WHERE mailbox_id = $1 AND modseq <= $2`, id, before); err != nil {
		return err
	}
	_, err := t.tx.Exec(t.ctx, `UPDATE mailboxes SET pruned_below = $1 WHERE id = $2`, before, id)
	return err
}

// rememberExpunged notes, for a mailbox that is replicated (it has a flag
// history point), the EMAILID of each message about to be removed, with
// modseq 0 until addTombstones gives it the expunge's: replication tells
// by it whether a peer's message under a UID expunged here is the one that
// was expunged (store.Expunged.EmailIDs).
func (t *writeTx) rememberExpunged(id store.MailboxID, lo, hi []int64, need store.SystemFlags) error {
	if len(lo) == 0 {
		return nil
	}
	_, err := t.tx.Exec(t.ctx, `INSERT INTO expunged_ids (mailbox_id, uid, email_id, modseq)
		SELECT m.mailbox_id, m.uid, c.email_id, 0 FROM messages m
		JOIN unnest($2::bigint[], $3::bigint[]) AS r(lo, hi) ON m.uid BETWEEN r.lo AND r.hi
		JOIN contents c ON c.id = m.content_id
		WHERE m.mailbox_id = $1 AND m.flags & $4 = $4
		AND (SELECT history_from FROM mailboxes WHERE id = $1) > 0
		ON CONFLICT (mailbox_id, uid) DO UPDATE SET email_id = excluded.email_id, modseq = 0`, id, lo, hi, int16(need))
	if err != nil {
		return fmt.Errorf("expunged ids: %w", err)
	}
	return nil
}
