package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetx"
)

// This file is the replication half of Replica (store.Replica,
// "Replication"), with the embedded store's semantics: the account level
// (mailboxes by replicated id, subscriptions, the account change counter
// in users.account_counter), the flag history, the typed per-peer state in
// replica_state, and Apply's grouping of a peer's changes by their
// modseqs.

// AccountState reads the account-level state in one snapshot.
func (r *Replica) AccountState(ctx context.Context) (store.AccountState, error) {
	var st store.AccountState
	err := r.a.snapshotRead(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT account_counter FROM users WHERE id = $1`, r.a.id).Scan(&st.Counter); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return store.ErrNoUser
			}
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+mailboxColumns+` FROM mailboxes mb WHERE mb.user_id = $1 ORDER BY mb.name COLLATE "C"`, r.a.id)
		if err != nil {
			return err
		}
		if st.Mailboxes, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.MailboxInfo, error) {
			m, err := scanMailbox(r)
			return m.MailboxInfo, err
		}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT guid, name, changed, seen FROM mailbox_tombstones WHERE user_id = $1 ORDER BY guid COLLATE "C"`, r.a.id)
		if err != nil {
			return err
		}
		if st.Deleted, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.MailboxTombstone, error) {
			var d store.MailboxTombstone
			var seen *string
			err := r.Scan(&d.GUID, &d.Name, &d.Changed, &seen)
			d.Seen = store.DecodeSeen(seen)
			return d, err
		}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT name COLLATE "C", true, changed FROM subscriptions WHERE user_id = $1
			UNION ALL SELECT name COLLATE "C", false, changed FROM unsubscribed WHERE user_id = $1 ORDER BY 1`, r.a.id)
		if err != nil {
			return err
		}
		st.Subscriptions, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Subscription, error) {
			var s store.Subscription
			err := r.Scan(&s.Name, &s.Subscribed, &s.Changed)
			return s, err
		})
		return err
	})
	if err != nil {
		return store.AccountState{}, fmt.Errorf("account state: %w", err)
	}
	return st, nil
}

// MailboxByGUID looks a mailbox up by its replicated id.
func (r *Replica) MailboxByGUID(ctx context.Context, guid string) (store.MailboxInfo, error) {
	m, err := lookupGUID(ctx, r.a.s.pool, r.a.id, guid)
	if err == errNotFound {
		return store.MailboxInfo{}, fmt.Errorf("mailbox %s: %w", guid, store.ErrNoMailbox)
	}
	return m.MailboxInfo, err
}

func lookupGUID(ctx context.Context, q querier, userID int64, guid string) (mailboxRow, error) {
	m, err := scanMailbox(q.QueryRow(ctx, `SELECT `+mailboxColumns+` FROM mailboxes mb WHERE mb.user_id = $1 AND mb.guid = $2`, userID, guid))
	if errors.Is(err, pgx.ErrNoRows) {
		return m, errNotFound
	}
	return m, err
}

// ApplyAccount applies account-level changes made on a peer, in order, in
// one transaction.
func (r *Replica) ApplyAccount(ctx context.Context, ops []store.AccountOp, peer string, state *store.PeerState) (store.AccountApplyResult, error) {
	var res store.AccountApplyResult
	err := r.a.write(ctx, func(t *writeTx) error {
		c, err := t.counter()
		if err != nil {
			return err
		}
		res.Before = c
		for _, op := range ops {
			if err := t.applyAccountOp(op); err != nil {
				return err
			}
		}
		if res.After, err = t.counter(); err != nil {
			return err
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
	err := t.tx.QueryRow(t.ctx, `SELECT account_counter FROM users WHERE id = $1`, t.userID).Scan(&c)
	return c, err
}

func (t *writeTx) applyAccountOp(op store.AccountOp) error {
	switch op.Kind {
	case store.OpSubscribe, store.OpUnsubscribe:
		name, err := store.CanonicalMailboxName(op.Name)
		if err != nil {
			return err
		}
		return t.setSubscribed(name, op.Kind == store.OpSubscribe, op.Stamp)
	}
	m, err := lookupGUID(t.ctx, t.tx, t.userID, op.GUID)
	exists := err == nil
	if err != nil && err != errNotFound {
		return err
	}
	switch op.Kind {
	case store.OpCreate:
		if exists {
			return nil
		}
		name, err := store.CanonicalMailboxName(op.Name)
		if err != nil {
			return err
		}
		if !store.ValidSpecialUse(op.SpecialUse) {
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
		_, err = t.tx.Exec(t.ctx, `DELETE FROM mailbox_tombstones WHERE user_id = $1 AND guid = $2 AND seen IS NULL`, t.userID, op.GUID)
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
		name, err := store.CanonicalMailboxName(op.Name)
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
		if _, err := t.tx.Exec(t.ctx, `UPDATE mailboxes SET name = $1, changed = $2 WHERE id = $3`, name, int64(changed), m.ID); err != nil {
			return err
		}
		return t.recordUIDValidity(name, m.UIDValidity)
	case store.OpSpecialUse:
		if !store.ValidSpecialUse(op.SpecialUse) {
			return fmt.Errorf("special-use %q: %w", op.SpecialUse, store.ErrCannot)
		}
		if m.SpecialUse == op.SpecialUse {
			return nil
		}
		changed, err := t.accountChange(op.Stamp)
		if err != nil {
			return err
		}
		_, err = t.tx.Exec(t.ctx, `UPDATE mailboxes SET special_use = $1, changed = $2 WHERE id = $3`, string(op.SpecialUse), int64(changed), m.ID)
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
		for _, q := range []string{`DELETE FROM tombstones WHERE mailbox_id = $1`, `DELETE FROM flag_history WHERE mailbox_id = $1`,
			`DELETE FROM expunged_ids WHERE mailbox_id = $1`} {
			if _, err := t.tx.Exec(t.ctx, q, m.ID); err != nil {
				return err
			}
		}
		if _, err := t.tx.Exec(t.ctx, `DELETE FROM replica_state WHERE user_id = $1 AND guid = $2`, t.userID, m.GUID); err != nil {
			return err
		}
		if err := t.ReserveUIDValidity(op.UIDValidity); err != nil {
			return err
		}
		// The new UIDVALIDITY tells clients to start over, so no modseq is
		// needed; watchers are still woken.
		if _, ok := t.touched[m.ID]; !ok {
			t.touched[m.ID] = m.HighestModSeq
		}
		if _, err := t.tx.Exec(t.ctx, `UPDATE mailboxes SET guid = $1, uidvalidity = $2, uidnext = 1, pruned_below = 0,
			history_from = 0, changed = $3, created = $3 WHERE id = $4`, op.NewGUID, int64(op.UIDValidity), int64(changed), m.ID); err != nil {
			return err
		}
		return t.recordUIDValidity(m.Name, op.UIDValidity)
	}
	return fmt.Errorf("account operation %d: %w", op.Kind, store.ErrCannot)
}

// FlagsAt returns the flags the messages of uids had at modseq at, for
// those changed since and kept in the flag history: the row recorded by
// the first change after at is the one with the largest modseq at or below
// at, and it is valid when the change that replaced it came after at.
func (r *Replica) FlagsAt(ctx context.Context, id store.MailboxID, uids store.UIDSet, at store.ModSeq) (map[store.UID]store.Flags, error) {
	out := make(map[store.UID]store.Flags)
	if uids.Empty() {
		return out, nil
	}
	lo, hi := uidBounds(uids)
	rows, err := r.a.s.pool.Query(ctx, `SELECT DISTINCT ON (h.uid) h.uid, h.replaced, h.flags, h.keywords
		FROM flag_history h JOIN unnest($2::bigint[], $3::bigint[]) AS r(lo, hi) ON h.uid BETWEEN r.lo AND r.hi
		JOIN mailboxes mb ON mb.id = h.mailbox_id
		WHERE h.mailbox_id = $1 AND mb.user_id = $5 AND h.modseq <= $4 ORDER BY h.uid, h.modseq DESC`, id, lo, hi, int64(at), r.a.id)
	if err != nil {
		return nil, fmt.Errorf("flag history: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var uid store.UID
		var replaced store.ModSeq
		var flags int16
		var kw []string
		if err := rows.Scan(&uid, &replaced, &flags, &kw); err != nil {
			return nil, fmt.Errorf("flag history: %w", err)
		}
		if replaced <= at {
			continue
		}
		f := store.Flags{System: store.SystemFlags(flags)}
		if len(kw) > 0 {
			f.Keywords = kw
		}
		out[uid] = f
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("flag history: %w", err)
	}
	return out, nil
}

// Tombstones returns the expunges recorded above since, by modseq, with
// the EMAILIDs remembered for their UIDs.
func (r *Replica) Tombstones(ctx context.Context, id store.MailboxID, since store.ModSeq) ([]store.Expunged, error) {
	var out []store.Expunged
	err := r.a.snapshotRead(ctx, func(tx pgx.Tx) error {
		if _, err := lookupID(ctx, tx, r.a.id, id); err != nil {
			return err
		}
		var err error
		out, err = tombstonesIn(ctx, tx, id, since)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tombstones: %w", err)
	}
	return out, nil
}

func tombstonesIn(ctx context.Context, tx pgx.Tx, id store.MailboxID, since store.ModSeq) ([]store.Expunged, error) {
	var out []store.Expunged
	rows, err := tx.Query(ctx, `SELECT uid_start, uid_stop, modseq FROM tombstones
		WHERE mailbox_id = $1 AND modseq > $2 ORDER BY modseq, uid_start`, id, int64(since))
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var rg store.UIDRange
		var ms store.ModSeq
		if err := rows.Scan(&rg.Start, &rg.Stop, &ms); err != nil {
			rows.Close()
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].ModSeq != ms {
			out = append(out, store.Expunged{ModSeq: ms})
		}
		out[len(out)-1].UIDs.AddRange(rg.Start, rg.Stop)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// A tombstone may have been merged with a later neighbour (a run of
	// expunged UIDs is one row at its last modseq), so the EMAILIDs are
	// found by UID, not by modseq.
	for i := range out {
		lo, hi := uidBounds(out[i].UIDs)
		rows, err := tx.Query(ctx, `SELECT e.uid, e.email_id FROM expunged_ids e
			JOIN unnest($2::bigint[], $3::bigint[]) AS r(lo, hi) ON e.uid BETWEEN r.lo AND r.hi
			WHERE e.mailbox_id = $1`, id, lo, hi)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var u store.UID
			var e string
			if err := rows.Scan(&u, &e); err != nil {
				rows.Close()
				return nil, err
			}
			if out[i].EmailIDs == nil {
				out[i].EmailIDs = make(map[store.UID]string)
			}
			out[i].EmailIDs[u] = e
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ReadRound reads a replication round's changes, tombstones and messages
// in one REPEATABLE READ transaction.
func (r *Replica) ReadRound(ctx context.Context, id store.MailboxID, since store.ModSeq, also store.UIDSet) (store.Round, error) {
	if err := store.CheckUIDs(also); err != nil {
		return store.Round{}, err
	}
	var rd store.Round
	err := r.a.snapshotRead(ctx, func(tx pgx.Tx) (err error) {
		rd = store.Round{}
		if rd.Changes, err = r.a.changesIn(ctx, tx, id, since); err != nil {
			return err
		}
		if since < rd.Mailbox.HighestModSeq {
			if rd.Tombstones, err = tombstonesIn(ctx, tx, id, since); err != nil {
				return err
			}
			if rd.Metadata, err = metadataIn(ctx, tx, r.a.id, id, since); err != nil {
				return err
			}
		}
		want := rd.InPlay()
		for _, g := range also {
			want.AddRange(g.Start, g.Stop)
		}
		if want.Empty() {
			return nil
		}
		lo, hi := uidBounds(want)
		rows, err := tx.Query(ctx, `SELECT m.uid, m.modseq, m.flags, m.keywords, m.savedate, m.size,
			c.blob_id, c.email_id, c.thread_id, c.internaldate, c.internaldate_zone
			FROM messages m JOIN contents c ON c.id = m.content_id
			JOIN unnest($2::bigint[], $3::bigint[]) AS r(lo, hi) ON m.uid BETWEEN r.lo AND r.hi
			WHERE m.mailbox_id = $1 ORDER BY m.uid`, id, lo, hi)
		if err != nil {
			return err
		}
		rd.Messages, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.MessageData, error) {
			m := new(store.MessageData)
			var flags int16
			var kw []string
			var saved, date int64
			var zone int
			if err := row.Scan(&m.UID, &m.ModSeq, &flags, &kw, &saved, &m.Size,
				&m.BlobID, &m.EmailID, &m.ThreadID, &date, &zone); err != nil {
				return nil, err
			}
			m.Flags.System = store.SystemFlags(flags)
			if len(kw) > 0 {
				m.Flags.Keywords = kw
			}
			m.SaveDate = time.Unix(saved, 0)
			m.InternalDate = time.Unix(date, 0).In(time.FixedZone("", zone))
			return m, nil
		})
		if err != nil || len(rd.Messages) == 0 {
			return err
		}
		rd.Stamps, err = stampsIn(ctx, tx, id, want)
		return err
	})
	if err != nil {
		return store.Round{}, fmt.Errorf("replication round: %w", err)
	}
	return rd, nil
}

// PeerStates returns the sync state recorded for peer.
func (r *Replica) PeerStates(ctx context.Context, peer string) (map[string]store.PeerState, error) {
	rows, err := r.a.s.pool.Query(ctx, `SELECT guid, applied, confirmed, uidnext FROM replica_state WHERE user_id = $1 AND peer = $2`, r.a.id, peer)
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
	return r.a.write(ctx, func(t *writeTx) error { return t.SetPeerState(peer, guid, ps) })
}

// ForgetPeer drops the state recorded for peer.
func (r *Replica) ForgetPeer(ctx context.Context, peer string) error {
	return r.a.write(ctx, func(t *writeTx) error {
		_, err := t.tx.Exec(t.ctx, `DELETE FROM replica_state WHERE user_id = $1 AND peer = $2`, t.userID, peer)
		return err
	})
}

// PruneMailboxTombstones implements store.Replica.
func (r *Replica) PruneMailboxTombstones(ctx context.Context, before uint64) (int, error) {
	var n int64
	err := r.a.write(ctx, func(t *writeTx) error {
		tag, err := t.tx.Exec(t.ctx, `DELETE FROM mailbox_tombstones d WHERE d.user_id = $1 AND d.changed <= $2
			AND d.changed <= coalesce((SELECT min(confirmed) FROM replica_state WHERE user_id = $1 AND guid = ''), $2)
			AND NOT EXISTS (SELECT 1 FROM mailboxes m WHERE m.user_id = $1 AND m.guid = d.guid)`, t.userID, int64(before))
		n = tag.RowsAffected()
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
	_, err := t.tx.Exec(t.ctx, `INSERT INTO replica_state (user_id, peer, guid, applied, confirmed, uidnext) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (user_id, peer, guid) DO UPDATE SET applied = greatest(replica_state.applied, excluded.applied),
		confirmed = greatest(replica_state.confirmed, excluded.confirmed), uidnext = greatest(replica_state.uidnext, excluded.uidnext)`,
		t.userID, peer, guid, int64(ps.Applied), int64(ps.Confirmed), int64(ps.UIDNext))
	if err != nil || guid == "" {
		return err
	}
	_, err = t.tx.Exec(t.ctx, `DELETE FROM flag_history WHERE mailbox_id = (SELECT id FROM mailboxes WHERE user_id = $1 AND guid = $2)
		AND replaced <= (SELECT min(confirmed) FROM replica_state WHERE user_id = $1 AND guid = $2)`, t.userID, guid)
	return err
}

// apply is the body of Apply's transaction. It first works out which of
// the batch's changes change anything, then gives each distinct peer
// modseq among them, ascending, its own local modseq (max(HIGHESTMODSEQ+1,
// the peer's modseq); changes without one share max(HIGHESTMODSEQ+1,
// b.ModSeq)), then writes: flags, appends, expunges, UIDNEXT,
// HIGHESTMODSEQ, the flag history point and the sync state.
func (t *writeTx) apply(mb mailboxRow, b store.Batch, prepared []preparedMessage, flags []stateChange, now time.Time, res *store.ApplyResult) error {
	id := mb.ID
	res.Before = mb.HighestModSeq
	var keys []store.ModSeq // peer modseqs of effective changes

	// Flags: read the current state, keep what differs.
	var flagUIDs store.UIDSet
	for _, f := range flags {
		flagUIDs.Add(f.uid)
	}
	cur, err := states(t.ctx, t.tx, id, flagUIDs.Below(mb.UIDNext))
	if err != nil {
		return err
	}
	byUID := make(map[store.UID]store.MessageState, len(cur))
	for _, m := range cur {
		byUID[m.UID] = m
	}
	var sets []stateChange
	for _, f := range flags {
		e, ok := byUID[f.uid]
		if !ok {
			continue
		}
		if f.flags == e.Flags.System && slices.Equal(f.keywords, store.NormalizeKeywords(e.Flags.Keywords)) {
			continue
		}
		if b.UnchangedSince != 0 && e.ModSeq > b.UnchangedSince {
			res.Modified.Add(f.uid)
			continue
		}
		sets = append(sets, f)
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
	batch := &pgx.Batch{}
	for _, s := range sets {
		e := byUID[s.uid]
		ms := local[s.modseq]
		t.keepHistory(batch, id, mb.historyFrom, []int64{int64(s.uid)}, ms)
		d.add(e.Flags.System, 0, -1)
		d.add(s.flags, 0, 1)
		batch.Queue(`UPDATE messages SET flags = $1, keywords = $2, modseq = $3 WHERE mailbox_id = $4 AND uid = $5`,
			int16(s.flags), s.keywords, ms, id, s.uid)
		queueStamps(batch, id, s.uid, b.Stamps[s.uid])
		logChanges(batch, id, ms, []int64{int64(s.uid)}, []int64{int64(s.uid)})
	}
	if batch.Len() > 0 {
		if err := t.tx.SendBatch(t.ctx, batch).Close(); err != nil {
			return fmt.Errorf("set flags: %w", err)
		}
	}
	d.messages, d.size = 0, 0
	if err := t.applyCounters(id, d); err != nil {
		return err
	}
	for i := range prepared {
		prepared[i].modseq = local[b.Append[i].ModSeq]
	}
	if res.Appended, _, err = t.insertMessages(mb, prepared, now); err != nil {
		return err
	}
	stampBatch := &pgx.Batch{}
	for _, u := range res.Appended {
		if st := b.Stamps[u]; len(st) > 0 {
			queueStamps(stampBatch, id, u, st)
		}
	}
	if stampBatch.Len() > 0 {
		if err := t.tx.SendBatch(t.ctx, stampBatch).Close(); err != nil {
			return fmt.Errorf("flag stamps: %w", err)
		}
	}
	uidNext := mb.UIDNext
	if n := len(res.Appended); n > 0 {
		uidNext = res.Appended[n-1] + 1
	}
	return storetx.FinishApply(t, mb.shared(), mb.historyFrom, b, plan, uidNext, res)
}

// ExistingUIDs implements storetx.Applier.
func (t *writeTx) ExistingUIDs(id store.MailboxID, uids store.UIDSet) (store.UIDSet, error) {
	var out store.UIDSet
	if uids.Empty() {
		return out, nil
	}
	lo, hi := uidBounds(uids)
	rows, err := t.tx.Query(t.ctx, `SELECT m.uid FROM messages m JOIN unnest($2::bigint[], $3::bigint[]) AS r(lo, hi)
		ON m.uid BETWEEN r.lo AND r.hi WHERE m.mailbox_id = $1 ORDER BY m.uid`, id, lo, hi)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[store.UID])
	if err != nil {
		return nil, err
	}
	for _, u := range list {
		out.Add(u)
	}
	return out, nil
}

// Untombstoned implements storetx.Applier by range arithmetic over the tombstones that overlap
// uids: one query, never a walk of the UIDs.
func (t *writeTx) Untombstoned(id store.MailboxID, uids, covered store.UIDSet) (store.UIDSet, error) {
	if uids.Empty() {
		return nil, nil
	}
	covered = slices.Clone(covered)
	lo, hi := uidBounds(uids)
	rows, err := t.tx.Query(t.ctx, `SELECT DISTINCT t.uid_start, t.uid_stop FROM tombstones t
		JOIN unnest($2::bigint[], $3::bigint[]) AS r(lo, hi) ON t.uid_start <= r.hi AND t.uid_stop >= r.lo
		WHERE t.mailbox_id = $1`, id, lo, hi)
	if err != nil {
		return nil, err
	}
	var found []store.UIDRange
	for rows.Next() {
		var rg store.UIDRange
		if err := rows.Scan(&rg.Start, &rg.Stop); err != nil {
			rows.Close()
			return nil, err
		}
		found = append(found, rg)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, rg := range found {
		covered.AddRange(rg.Start, rg.Stop)
	}
	return uids.Minus(covered), nil
}

// MergeExpungedID implements storetx.Applier. A record without a modseq
// goes at the next pruning unless an expunge of its UID stamps it.
func (t *writeTx) MergeExpungedID(id store.MailboxID, u store.UID, eid string) error {
	for _, e := range strings.Fields(eid) {
		if _, err := t.tx.Exec(t.ctx, `INSERT INTO expunged_ids (mailbox_id, uid, email_id, modseq) VALUES ($1, $2, $3, 0)
			ON CONFLICT (mailbox_id, uid) DO UPDATE SET email_id = expunged_ids.email_id || ' ' || excluded.email_id
			WHERE position(' ' || excluded.email_id || ' ' in ' ' || expunged_ids.email_id || ' ') = 0`, id, u, e); err != nil {
			return fmt.Errorf("expunged ids: %w", err)
		}
	}
	return nil
}

// OtherPeers implements storetx.Applier.
func (t *writeTx) OtherPeers(guid, peer string) (bool, error) {
	var n int
	err := t.tx.QueryRow(t.ctx, `SELECT count(*) FROM replica_state WHERE user_id = $1 AND guid = $2 AND peer <> $3`,
		t.userID, guid, peer).Scan(&n)
	return n > 0, err
}

// The write transaction supplies the statements of Apply's shared rules.
var _ storetx.Applier = (*writeTx)(nil)

// SetExpungedID implements storetx.Applier.
func (t *writeTx) SetExpungedID(id store.MailboxID, u store.UID, eid string) error {
	_, err := t.tx.Exec(t.ctx, `INSERT INTO expunged_ids (mailbox_id, uid, email_id, modseq) VALUES ($1, $2, $3, 0)
		ON CONFLICT (mailbox_id, uid) DO UPDATE SET email_id = excluded.email_id, modseq = 0`, id, u, eid)
	return err
}

// RaiseUIDNext implements storetx.Applier.
func (t *writeTx) RaiseUIDNext(id store.MailboxID, uidNext store.UID) error {
	_, err := t.tx.Exec(t.ctx, `UPDATE mailboxes SET uidnext = greatest(uidnext, $1) WHERE id = $2`, uidNext, id)
	return err
}

// SetHistoryFrom implements storetx.Applier.
func (t *writeTx) SetHistoryFrom(id store.MailboxID, ms store.ModSeq) error {
	_, err := t.tx.Exec(t.ctx, `UPDATE mailboxes SET history_from = $1 WHERE id = $2`, ms, id)
	return err
}

// Touched implements storetx.Applier.
func (t *writeTx) Touched(id store.MailboxID) store.ModSeq { return t.touched[id] }
