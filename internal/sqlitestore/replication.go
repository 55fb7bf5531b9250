package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetx"
)

// This file is the replication half of Replica (store.Replica,
// "Replication"): the account level (mailboxes by replicated id,
// subscriptions, the account change counter), the flag history, the typed
// per-peer state in replica_state, and Apply's grouping of a peer's
// changes by their modseqs.

// AccountState reads the account-level state in one read transaction.
func (r *Replica) AccountState(ctx context.Context) (store.AccountState, error) {
	var st store.AccountState
	err := r.a.u.readTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT coalesce((SELECT value FROM meta WHERE key = 'account_counter'), 0)`).Scan(&st.Counter)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+mailboxColumns+` FROM mailboxes ORDER BY name`)
		if err != nil {
			return err
		}
		for rows.Next() {
			m, err := scanMailbox(rows)
			if err != nil {
				rows.Close()
				return err
			}
			st.Mailboxes = append(st.Mailboxes, m.MailboxInfo)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.QueryContext(ctx, `SELECT guid, name, changed, seen FROM mailbox_tombstones ORDER BY guid`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var d store.MailboxTombstone
			var seen *string
			if err := rows.Scan(&d.GUID, &d.Name, &d.Changed, &seen); err != nil {
				rows.Close()
				return err
			}
			d.Seen = store.DecodeSeen(seen)
			st.Deleted = append(st.Deleted, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.QueryContext(ctx, `SELECT name, 1, changed FROM subscriptions
			UNION ALL SELECT name, 0, changed FROM unsubscribed ORDER BY 1`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s store.Subscription
			if err := rows.Scan(&s.Name, &s.Subscribed, &s.Changed); err != nil {
				return err
			}
			st.Subscriptions = append(st.Subscriptions, s)
		}
		return rows.Err()
	})
	if err != nil {
		return store.AccountState{}, fmt.Errorf("account state: %w", err)
	}
	return st, nil
}

// MailboxByGUID looks a mailbox up by its replicated id.
func (r *Replica) MailboxByGUID(ctx context.Context, guid string) (store.MailboxInfo, error) {
	m, err := scanMailbox(r.a.u.r.QueryRowContext(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE guid = ?`, guid))
	if err == errNotFound {
		return store.MailboxInfo{}, fmt.Errorf("mailbox %s: %w", guid, store.ErrNoMailbox)
	}
	return m.MailboxInfo, err
}

// ApplyAccount applies account-level changes made on a peer, in order, in
// one transaction.
func (r *Replica) ApplyAccount(ctx context.Context, ops []store.AccountOp, peer string, state *store.PeerState) (store.AccountApplyResult, error) {
	var res store.AccountApplyResult
	err := r.a.u.write(ctx, func(t *writeTx) error {
		c, err := t.counter()
		if err != nil {
			return err
		}
		res.Before = c
		defer func() { res.After, _ = t.counter() }()
		for _, op := range ops {
			if err := t.applyAccountOp(op); err != nil {
				return err
			}
		}
		if state != nil {
			return t.SetPeerState(peer, "", *state)
		}
		return nil
	})
	if err != nil {
		return store.AccountApplyResult{}, err
	}
	return res, nil
}

// counter reads the account change counter.
func (t *writeTx) counter() (uint64, error) {
	var c uint64
	err := t.tx.QueryRowContext(t.ctx, `SELECT coalesce((SELECT value FROM meta WHERE key = 'account_counter'), 0)`).Scan(&c)
	return c, err
}

// Tombstones returns the expunges recorded above since, by modseq.
func (r *Replica) Tombstones(ctx context.Context, id store.MailboxID, since store.ModSeq) ([]store.Expunged, error) {
	var out []store.Expunged
	err := r.a.u.readTx(ctx, func(tx *sql.Tx) (err error) {
		out, err = tombstonesIn(ctx, r.a.u.readQ(tx), id, since)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tombstones: %w", err)
	}
	return out, nil
}

func tombstonesIn(ctx context.Context, q querier, id store.MailboxID, since store.ModSeq) ([]store.Expunged, error) {
	rows, err := q.QueryContext(ctx, `SELECT uid_start, uid_stop, modseq FROM tombstones INDEXED BY tombstones_modseq
		WHERE mailbox_id = ? AND modseq > ? ORDER BY modseq, uid_start`, id, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Expunged
	for rows.Next() {
		var rg store.UIDRange
		var ms store.ModSeq
		if err := rows.Scan(&rg.Start, &rg.Stop, &ms); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].ModSeq != ms {
			out = append(out, store.Expunged{ModSeq: ms})
		}
		out[len(out)-1].UIDs.AddRange(rg.Start, rg.Stop)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	// A tombstone may have been merged with a later neighbour (a run of
	// expunged UIDs is one row at its last modseq), so the EMAILIDs are
	// found by UID, not by modseq.
	for i := range out {
		for _, rg := range out[i].UIDs {
			ids, err := q.QueryContext(ctx, `SELECT uid, email_id FROM expunged_ids WHERE mailbox_id = ? AND uid BETWEEN ? AND ?`, id, rg.Start, rg.Stop)
			if err != nil {
				return nil, err
			}
			for ids.Next() {
				var u store.UID
				var e string
				if err := ids.Scan(&u, &e); err != nil {
					ids.Close()
					return nil, err
				}
				if out[i].EmailIDs == nil {
					out[i].EmailIDs = make(map[store.UID]string)
				}
				out[i].EmailIDs[u] = e
			}
			ids.Close()
			if err := ids.Err(); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// ReadRound reads a replication round's changes, tombstones and messages
// in one read transaction (one WAL snapshot).
func (r *Replica) ReadRound(ctx context.Context, id store.MailboxID, since store.ModSeq, also store.UIDSet) (store.Round, error) {
	if err := store.CheckUIDs(also); err != nil {
		return store.Round{}, err
	}
	var rd store.Round
	u := r.a.u
	err := u.readTx(ctx, func(tx *sql.Tx) (err error) {
		rd = store.Round{}
		if rd.Changes, err = u.changesIn(ctx, tx, id, since); err != nil {
			return err
		}
		if since < rd.Mailbox.HighestModSeq {
			if rd.Tombstones, err = tombstonesIn(ctx, u.readQ(tx), id, since); err != nil {
				return err
			}
			if rd.Metadata, err = metadataIn(ctx, u.readQ(tx), id, since); err != nil {
				return err
			}
		}
		want := rd.InPlay()
		for _, g := range also {
			want.AddRange(g.Start, g.Stop)
		}
		for _, g := range want {
			ms, err := u.roundMessages(ctx, tx, id, g.Start, g.Stop)
			if err != nil {
				return err
			}
			rd.Messages = append(rd.Messages, ms...)
		}
		if len(rd.Messages) > 0 {
			rd.Stamps, err = stampsIn(ctx, u.readQ(tx), id, want)
		}
		return err
	})
	if err != nil {
		return store.Round{}, fmt.Errorf("replication round: %w", err)
	}
	return rd, nil
}

// roundMessages returns the messages of UIDs lo..hi with their states,
// without their structures.
func (u *userDB) roundMessages(ctx context.Context, tx *sql.Tx, id store.MailboxID, lo, hi store.UID) ([]*store.MessageData, error) {
	rows, err := u.readQ(tx).QueryContext(ctx, `SELECT m.uid, m.savedate, m.size,
		c.blob_id, c.email_id, c.thread_id, c.internaldate, c.internaldate_zone
		FROM messages m JOIN contents c ON c.id = m.content_id
		WHERE m.mailbox_id = ? AND m.uid BETWEEN ? AND ? ORDER BY m.uid`, id, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.MessageData
	for rows.Next() {
		m := new(store.MessageData)
		var saved, date int64
		var zone int
		if err := rows.Scan(&m.UID, &saved, &m.Size, &m.BlobID, &m.EmailID, &m.ThreadID, &date, &zone); err != nil {
			return nil, err
		}
		m.SaveDate = time.Unix(saved, 0)
		m.InternalDate = time.Unix(date, 0).In(time.FixedZone("", zone))
		out = append(out, m)
	}
	if err := rows.Err(); err != nil || len(out) == 0 {
		return nil, err
	}
	rows.Close()
	return out, u.fillStates(ctx, tx, id, len(out), func(i int) *store.MessageData { return out[i] })
}

func cmpModSeq(a, b store.ModSeq) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (t *writeTx) lookupGUID(guid string) (mailboxRow, error) {
	return scanMailbox(t.tx.QueryRowContext(t.ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE guid = ?`, guid))
}

func (t *writeTx) applyAccountOp(op store.AccountOp) error {
	switch op.Kind {
	case store.OpSubscribe, store.OpUnsubscribe:
		name, err := canonicalMailboxName(op.Name)
		if err != nil {
			return err
		}
		return t.setSubscribed(name, op.Kind == store.OpSubscribe, op.Stamp)
	}
	m, err := t.lookupGUID(op.GUID)
	exists := err == nil
	if err != nil && err != errNotFound {
		return err
	}
	switch op.Kind {
	case store.OpCreate:
		if exists {
			return nil
		}
		name, err := canonicalMailboxName(op.Name)
		if err != nil {
			return err
		}
		if !validSpecialUse(op.SpecialUse) {
			return fmt.Errorf("special-use %q: %w", op.SpecialUse, store.ErrCannot)
		}
		if _, err := t.lookup(name); err == nil {
			return fmt.Errorf("create %q: %w", name, store.ErrMailboxExists)
		} else if err != errNotFound {
			return err
		}
		// Later local mailboxes still get larger UIDVALIDITYs.
		if err := t.ReserveUIDValidity(op.UIDValidity); err != nil {
			return err
		}
		id, err := t.insertMailbox(name, op.SpecialUse, op.GUID, op.UIDValidity, op.Stamp)
		if err != nil {
			return err
		}
		if op.HighestModSeq > 1 {
			if _, err := t.NewModSeq(id, op.HighestModSeq); err != nil {
				return err
			}
		}
		// A tombstone that records what its delete saw stays: the
		// mailbox created again still must not take those messages back
		// (store.MailboxTombstone.Seen).
		_, err = t.tx.ExecContext(t.ctx, `DELETE FROM mailbox_tombstones WHERE guid = ? AND seen IS NULL`, op.GUID)
		return err
	case store.OpDelete:
		if !exists {
			if err := t.mailboxTombstone(op.GUID, op.Name, op.Stamp); err != nil {
				return err
			}
			return t.recordSeen(op.GUID, op.Seen)
		}
		if m.Name == "INBOX" {
			return fmt.Errorf("delete INBOX: %w", store.ErrCannot)
		}
		return t.deleteMailbox(m, op.Stamp, op.Seen)
	}
	if !exists {
		return fmt.Errorf("mailbox %s: %w", op.GUID, store.ErrNoMailbox)
	}
	switch op.Kind {
	case store.OpRename:
		name, err := canonicalMailboxName(op.Name)
		if err != nil {
			return err
		}
		if name == m.Name {
			return nil
		}
		if m.Name == "INBOX" || name == "INBOX" {
			return fmt.Errorf("rename %q to %q: %w", m.Name, name, store.ErrCannot)
		}
		if _, err := t.lookup(name); err == nil {
			return fmt.Errorf("rename to %q: %w", name, store.ErrMailboxExists)
		} else if err != errNotFound {
			return err
		}
		changed, err := t.accountChange(op.Stamp)
		if err != nil {
			return err
		}
		_, err = t.tx.ExecContext(t.ctx, `UPDATE mailboxes SET name = ?, changed = ? WHERE id = ?`, name, changed, m.ID)
		return err
	case store.OpSpecialUse:
		if !validSpecialUse(op.SpecialUse) {
			return fmt.Errorf("special-use %q: %w", op.SpecialUse, store.ErrCannot)
		}
		if m.SpecialUse == op.SpecialUse {
			return nil
		}
		changed, err := t.accountChange(op.Stamp)
		if err != nil {
			return err
		}
		_, err = t.tx.ExecContext(t.ctx, `UPDATE mailboxes SET special_use = ?, changed = ? WHERE id = ?`, string(op.SpecialUse), changed, m.ID)
		return err
	case store.OpAdopt:
		if m.GUID == op.NewGUID && m.UIDValidity == op.UIDValidity {
			return nil
		}
		if m.Messages != 0 {
			return fmt.Errorf("adopt mailbox %q: it holds messages: %w", m.Name, store.ErrCannot)
		}
		changed, err := t.accountChange(op.Stamp)
		if err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM tombstones WHERE mailbox_id = ?`, `DELETE FROM flag_history WHERE mailbox_id = ?`,
			`DELETE FROM expunged_ids WHERE mailbox_id = ?`} {
			if _, err := t.tx.ExecContext(t.ctx, q, m.ID); err != nil {
				return err
			}
		}
		if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM replica_state WHERE guid = ?`, m.GUID); err != nil {
			return err
		}
		// The new UIDVALIDITY tells clients to start over, so no modseq is
		// needed; watchers are still woken.
		t.touched[m.ID] = m.HighestModSeq
		_, err = t.tx.ExecContext(t.ctx, `UPDATE mailboxes SET guid = ?, uidvalidity = ?, uidnext = 1, pruned_below = 0,
			history_from = 0, changed = ?, created = ? WHERE id = ?`, op.NewGUID, op.UIDValidity, changed, changed, m.ID)
		return err
	}
	return fmt.Errorf("account operation %d: %w", op.Kind, store.ErrCannot)
}

// FlagsAt returns the flags the messages of uids had at modseq at, for
// those changed since and kept in the flag history: the row recorded by the
// first change after at is the one with the largest modseq at or below at,
// and it is valid when the change that replaced it came after at.
func (r *Replica) FlagsAt(ctx context.Context, id store.MailboxID, uids store.UIDSet, at store.ModSeq) (map[store.UID]store.Flags, error) {
	out := make(map[store.UID]store.Flags)
	err := r.a.u.readTx(ctx, func(tx *sql.Tx) error {
		kwr := r.a.u.readResolver(ctx, tx)
		for _, rg := range uids {
			rows, err := tx.QueryContext(ctx, `SELECT uid, modseq, replaced, flags, keywords FROM flag_history
				WHERE mailbox_id = ? AND uid BETWEEN ? AND ? AND modseq <= ? ORDER BY uid, modseq`, id, rg.Start, rg.Stop, at)
			if err != nil {
				return err
			}
			type row struct {
				replaced store.ModSeq
				flags    store.SystemFlags
				kw       kwSetID
			}
			best := make(map[store.UID]row)
			var order []store.UID
			for rows.Next() {
				var uid store.UID
				var ms store.ModSeq
				var x row
				if err := rows.Scan(&uid, &ms, &x.replaced, &x.flags, &x.kw); err != nil {
					rows.Close()
					return err
				}
				if _, ok := best[uid]; !ok {
					order = append(order, uid)
				}
				best[uid] = x // ascending modseq: the last one wins
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, uid := range order {
				x := best[uid]
				if x.replaced <= at {
					continue
				}
				kw, err := kwr.keywords(x.kw)
				if err != nil {
					return err
				}
				out[uid] = store.Flags{System: x.flags, Keywords: kw}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("flag history: %w", err)
	}
	return out, nil
}

// PeerStates returns the sync state recorded for peer.
func (r *Replica) PeerStates(ctx context.Context, peer string) (map[string]store.PeerState, error) {
	rows, err := r.a.u.r.QueryContext(ctx, `SELECT guid, applied, confirmed, uidnext FROM replica_state WHERE peer = ?`, peer)
	if err != nil {
		return nil, fmt.Errorf("peer state: %w", err)
	}
	defer rows.Close()
	out := make(map[string]store.PeerState)
	for rows.Next() {
		var guid string
		var ps store.PeerState
		if err := rows.Scan(&guid, &ps.Applied, &ps.Confirmed, &ps.UIDNext); err != nil {
			return nil, err
		}
		out[guid] = ps
	}
	return out, rows.Err()
}

// SetPeerState records sync state outside a batch of changes.
func (r *Replica) SetPeerState(ctx context.Context, peer, guid string, ps store.PeerState) error {
	return r.a.u.write(ctx, func(t *writeTx) error { return t.SetPeerState(peer, guid, ps) })
}

// ForgetPeer drops the state recorded for peer.
func (r *Replica) ForgetPeer(ctx context.Context, peer string) error {
	return r.a.u.write(ctx, func(t *writeTx) error {
		_, err := t.tx.ExecContext(t.ctx, `DELETE FROM replica_state WHERE peer = ?`, peer)
		return err
	})
}

// PruneMailboxTombstones implements store.Replica.
func (r *Replica) PruneMailboxTombstones(ctx context.Context, before uint64) (int, error) {
	var n int64
	err := r.a.u.write(ctx, func(t *writeTx) error {
		res, err := t.tx.ExecContext(t.ctx, `DELETE FROM mailbox_tombstones WHERE changed <= ?
			AND changed <= coalesce((SELECT min(confirmed) FROM replica_state WHERE guid = ''), ?)
			AND guid NOT IN (SELECT guid FROM mailboxes)`, before, before)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune mailbox tombstones: %w", err)
	}
	return int(n), nil
}

// SetPeerState raises the recorded state and drops the flag history no
// peer needs any more (replaced at or below every peer's confirmed point).
func (t *writeTx) SetPeerState(peer, guid string, ps store.PeerState) error {
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO replica_state (peer, guid, applied, confirmed, uidnext) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (peer, guid) DO UPDATE SET applied = max(applied, excluded.applied),
		confirmed = max(confirmed, excluded.confirmed), uidnext = max(uidnext, excluded.uidnext)`,
		peer, guid, uint64(ps.Applied), uint64(ps.Confirmed), uint32(ps.UIDNext))
	if err != nil || guid == "" {
		return err
	}
	_, err = t.tx.ExecContext(t.ctx, `DELETE FROM flag_history WHERE mailbox_id = (SELECT id FROM mailboxes WHERE guid = ?)
		AND replaced <= (SELECT min(confirmed) FROM replica_state WHERE guid = ?)`, guid, guid)
	return err
}

// apply is the body of Apply's transaction. It first works out which of
// the batch's changes change anything, then gives each distinct peer
// modseq among them, ascending, its own local modseq (max(HIGHESTMODSEQ+1,
// the peer's modseq); changes without one share max(HIGHESTMODSEQ+1,
// b.ModSeq)), then writes: flags, appends, expunges, UIDNEXT,
// HIGHESTMODSEQ, the flag history point and the sync state.
func (t *writeTx) apply(mb mailboxRow, b store.Batch, prepared []preparedMessage, flags []stateChange, res *store.ApplyResult) error {
	id := mb.ID
	res.Before = mb.HighestModSeq
	var keys []store.ModSeq // peer modseqs of effective changes

	// Flags: load the chunks, keep what differs.
	type flagSet struct {
		c  stateChange
		kw kwSetID
	}
	var flagUIDs store.UIDSet
	for _, f := range flags {
		flagUIDs.Add(f.uid)
	}
	cs, err := loadChunks(t, id, flagUIDs.Below(mb.UIDNext))
	if err != nil {
		return err
	}
	byUID := make(map[store.UID]*entry)
	chunkOf := make(map[store.UID]*chunk)
	for _, c := range cs {
		for i := range c.entries {
			byUID[c.entries[i].uid] = &c.entries[i]
			chunkOf[c.entries[i].uid] = c
		}
	}
	var sets []flagSet
	for _, f := range flags {
		e := byUID[f.uid]
		if e == nil {
			continue
		}
		kw, err := t.kwSetFor(f.keywords)
		if err != nil {
			return err
		}
		if f.flags == e.flags && kw == e.kw {
			continue
		}
		if b.UnchangedSince != 0 && e.modseq > b.UnchangedSince {
			res.Modified.Add(f.uid)
			continue
		}
		sets = append(sets, flagSet{f, kw})
		keys = append(keys, f.modseq)
	}
	for i := range prepared {
		keys = append(keys, b.Append[i].ModSeq)
	}

	plan, err := storetx.PlanApply(t, mb.shared(), b, keys)
	if err != nil {
		return err
	}
	local := plan.Local

	var d counterDelta
	for _, s := range sets {
		e := byUID[s.c.uid]
		ms := local[s.c.modseq]
		if err := t.keepHistory(id, mb.historyFrom, *e, ms); err != nil {
			return err
		}
		d.add(e.flags, 0, -1)
		d.add(s.c.flags, 0, 1)
		e.flags, e.kw, e.modseq = s.c.flags, s.kw, ms
		chunkOf[s.c.uid].dirty = true
		if err := t.setStamps(id, s.c.uid, b.Stamps[s.c.uid]); err != nil {
			return err
		}
	}
	if err := t.saveChunks(cs); err != nil {
		return err
	}
	if err := t.applyCounters(id, d); err != nil {
		return err
	}
	for i := range prepared {
		prepared[i].modseq = local[b.Append[i].ModSeq]
	}
	if res.Appended, _, err = t.insertMessages(mb, prepared); err != nil {
		return err
	}
	for _, u := range res.Appended {
		if st := b.Stamps[u]; len(st) > 0 {
			if err := t.setStamps(id, u, st); err != nil {
				return err
			}
		}
	}
	uidNext := mb.UIDNext
	if n := len(res.Appended); n > 0 {
		uidNext = res.Appended[n-1] + 1
	}
	return storetx.FinishApply(t, mb.shared(), mb.historyFrom, b, plan, uidNext, res)
}

// Untombstoned implements storetx.Applier by range arithmetic: two index lookups per range of
// uids, never a walk of the UIDs.
func (t *writeTx) Untombstoned(id store.MailboxID, uids, covered store.UIDSet) (store.UIDSet, error) {
	covered = slices.Clone(covered)
	for _, r := range uids {
		// The tombstone starting at or below r.Start, and those starting
		// inside r.
		var s, e store.UID
		err := t.tx.QueryRowContext(t.ctx, `SELECT uid_start, uid_stop FROM tombstones
			WHERE mailbox_id = ? AND uid_start <= ? ORDER BY uid_start DESC LIMIT 1`, id, r.Start).Scan(&s, &e)
		switch {
		case err == nil && e >= r.Start:
			covered.AddRange(s, e)
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return nil, err
		}
		if r.Start == r.Stop {
			continue
		}
		rows, err := t.tx.QueryContext(t.ctx, `SELECT uid_start, uid_stop FROM tombstones
			WHERE mailbox_id = ? AND uid_start > ? AND uid_start <= ? ORDER BY uid_start`, id, r.Start, r.Stop)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			if err := rows.Scan(&s, &e); err != nil {
				rows.Close()
				return nil, err
			}
			covered.AddRange(s, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return uids.Minus(covered), nil
}

// ExistingUIDs implements storetx.Applier.
func (t *writeTx) ExistingUIDs(id store.MailboxID, uids store.UIDSet) (store.UIDSet, error) {
	var out store.UIDSet
	for _, r := range uids {
		rows, err := t.tx.QueryContext(t.ctx, `SELECT uid FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid`, id, r.Start, r.Stop)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var u store.UID
			if err := rows.Scan(&u); err != nil {
				rows.Close()
				return nil, err
			}
			out.Add(u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// MergeExpungedID implements storetx.Applier. A record without a modseq
// goes at the next pruning unless an expunge of its UID stamps it.
func (t *writeTx) MergeExpungedID(id store.MailboxID, u store.UID, eid string) error {
	for _, e := range strings.Fields(eid) {
		if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO expunged_ids (mailbox_id, uid, email_id, modseq) VALUES (?1, ?2, ?3, 0)
			ON CONFLICT (mailbox_id, uid) DO UPDATE SET email_id = email_id || ' ' || ?3
			WHERE ' ' || email_id || ' ' NOT LIKE '% ' || ?3 || ' %'`, id, u, e); err != nil {
			return fmt.Errorf("expunged ids: %w", err)
		}
	}
	return nil
}

// OtherPeers implements storetx.Applier.
func (t *writeTx) OtherPeers(guid, peer string) (bool, error) {
	var n int
	err := t.tx.QueryRowContext(t.ctx, `SELECT count(*) FROM replica_state WHERE guid = ? AND peer != ?`, guid, peer).Scan(&n)
	return n > 0, err
}

// The write transaction supplies the statements of Apply's shared rules.
var _ storetx.Applier = (*writeTx)(nil)

// SetExpungedID implements storetx.Applier.
func (t *writeTx) SetExpungedID(id store.MailboxID, u store.UID, eid string) error {
	_, err := t.tx.ExecContext(t.ctx, `INSERT OR REPLACE INTO expunged_ids (mailbox_id, uid, email_id, modseq) VALUES (?, ?, ?, 0)`, id, u, eid)
	return err
}

// RaiseUIDNext implements storetx.Applier.
func (t *writeTx) RaiseUIDNext(id store.MailboxID, uidNext store.UID) error {
	_, err := t.tx.ExecContext(t.ctx, `UPDATE mailboxes SET uidnext = ? WHERE id = ?`, uidNext, id)
	return err
}

// SetHistoryFrom implements storetx.Applier.
func (t *writeTx) SetHistoryFrom(id store.MailboxID, ms store.ModSeq) error {
	_, err := t.tx.ExecContext(t.ctx, `UPDATE mailboxes SET history_from = ? WHERE id = ?`, ms, id)
	return err
}

// Touched implements storetx.Applier.
func (t *writeTx) Touched(id store.MailboxID) store.ModSeq { return t.touched[id] }
