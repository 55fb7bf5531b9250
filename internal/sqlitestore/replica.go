package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tidemark-mail/tidemark/internal/blob"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Replica is a handle on one user's store as replication sees it; it
// implements store.Replica.
type Replica struct {
	*Account
}

var _ store.Replica = (*Replica)(nil)

// OpenReplica returns a replication handle on a user's store.
func (s *Store) OpenReplica(ctx context.Context, user string) (store.Replica, error) {
	a, err := s.openAccount(ctx, user)
	if err != nil {
		return nil, err
	}
	return &Replica{a}, nil
}

// AccountState reads the account-level state in one read transaction.
func (r *Replica) AccountState(ctx context.Context) (store.AccountState, error) {
	var st store.AccountState
	err := r.u.readTx(ctx, func(tx *sql.Tx) error {
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
		rows, err = tx.QueryContext(ctx, `SELECT guid, name, changed FROM mailbox_tombstones ORDER BY guid`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var d store.MailboxTombstone
			if err := rows.Scan(&d.GUID, &d.Name, &d.Changed); err != nil {
				rows.Close()
				return err
			}
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
	m, err := scanMailbox(r.u.r.QueryRowContext(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE guid = ?`, guid))
	if err == errNotFound {
		return store.MailboxInfo{}, fmt.Errorf("mailbox %s: %w", guid, store.ErrNoMailbox)
	}
	return m.MailboxInfo, err
}

// ApplyAccount applies account-level changes made on a peer, in order, in
// one transaction.
func (r *Replica) ApplyAccount(ctx context.Context, ops []store.AccountOp, peer string, state *store.PeerState) (store.AccountApplyResult, error) {
	var res store.AccountApplyResult
	err := r.u.write(ctx, func(t *writeTx) error {
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
			return t.setPeerState(peer, "", *state)
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
	rows, err := r.u.r.QueryContext(ctx, `SELECT uid_start, uid_stop, modseq FROM tombstones INDEXED BY tombstones_modseq
		WHERE mailbox_id = ? AND modseq > ? ORDER BY modseq, uid_start`, id, since)
	if err != nil {
		return nil, fmt.Errorf("tombstones: %w", err)
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
	return out, rows.Err()
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
		t.refreshManifest()
		// Later local mailboxes still get larger UIDVALIDITYs.
		if op.UIDValidity >= t.man.UIDValidityNext {
			t.man.UIDValidityNext = op.UIDValidity + 1
			t.manDirty = true
		}
		id, err := t.insertMailbox(name, op.SpecialUse, op.GUID, op.UIDValidity, op.Stamp)
		if err != nil {
			return err
		}
		if op.HighestModSeq > 1 {
			if _, err := t.newModseq(id, op.HighestModSeq); err != nil {
				return err
			}
		}
		_, err = t.tx.ExecContext(t.ctx, `DELETE FROM mailbox_tombstones WHERE guid = ?`, op.GUID)
		return err
	case store.OpDelete:
		if !exists {
			return t.mailboxTombstone(op.GUID, op.Name, op.Stamp)
		}
		if m.Name == "INBOX" {
			return fmt.Errorf("delete INBOX: %w", store.ErrCannot)
		}
		return t.deleteMailbox(m, op.Stamp)
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
		for _, q := range []string{`DELETE FROM tombstones WHERE mailbox_id = ?`, `DELETE FROM flag_history WHERE mailbox_id = ?`} {
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
			history_from = 0, changed = ? WHERE id = ?`, op.NewGUID, op.UIDValidity, changed, m.ID)
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
	err := r.u.readTx(ctx, func(tx *sql.Tx) error {
		kwr := r.u.readResolver(ctx, tx)
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

// HasBodies reports which contents the store holds (a contents row names
// them, so their structure can be reused without reading the bytes).
func (r *Replica) HasBodies(ctx context.Context, blobIDs []string) ([]bool, error) {
	out := make([]bool, len(blobIDs))
	for i, id := range blobIDs {
		var n int
		if err := r.u.r.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM contents WHERE blob_id = ? LIMIT 1)`, id).Scan(&n); err != nil {
			return nil, fmt.Errorf("has bodies: %w", err)
		}
		out[i] = n > 0
	}
	return out, nil
}

// PeerStates returns the sync state recorded for peer.
func (r *Replica) PeerStates(ctx context.Context, peer string) (map[string]store.PeerState, error) {
	rows, err := r.u.r.QueryContext(ctx, `SELECT guid, applied, confirmed, uidnext FROM replica_state WHERE peer = ?`, peer)
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
	return r.u.write(ctx, func(t *writeTx) error { return t.setPeerState(peer, guid, ps) })
}

// ForgetPeer drops the state recorded for peer.
func (r *Replica) ForgetPeer(ctx context.Context, peer string) error {
	return r.u.write(ctx, func(t *writeTx) error {
		_, err := t.tx.ExecContext(t.ctx, `DELETE FROM replica_state WHERE peer = ?`, peer)
		return err
	})
}

// setPeerState raises the recorded state and drops the flag history no
// peer needs any more (replaced at or below every peer's confirmed point).
func (t *writeTx) setPeerState(peer, guid string, ps store.PeerState) error {
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

// replicaAppend is a message of an ApplyBatch made ready for the
// transaction.
type replicaAppend struct {
	m       store.ReplicaMessage
	p       preparedMessage
	hasBody bool // p holds a freshly read body; otherwise reuse contents
}

// Apply applies a batch of a peer's changes in one transaction (see
// store.Replica). Bodies are read and written before the transaction, as
// Append does.
func (r *Replica) Apply(ctx context.Context, id store.MailboxID, b store.ApplyBatch) (store.ApplyResult, error) {
	var res store.ApplyResult
	for _, f := range b.Flags {
		if f.UID == 0 {
			return res, fmt.Errorf("UID 0: %w", store.ErrInvalidUID)
		}
	}
	for _, e := range b.Expunges {
		if err := checkUIDs(e.UIDs); err != nil {
			return res, err
		}
	}
	apps := make([]replicaAppend, len(b.Appends))
	a := r.Account
	a.u.gcMu.RLock()
	defer a.u.gcMu.RUnlock()
	var pending []*blob.Pending
	budget := int64(inlineBatchBudget)
	for i, m := range b.Appends {
		if m.UID == 0 || (i > 0 && m.UID <= b.Appends[i-1].UID) {
			return res, fmt.Errorf("apply: appends must have ascending UIDs: %w", store.ErrInvalidUID)
		}
		sys, kw, err := normalizeFlags(m.Flags)
		if err != nil {
			return res, err
		}
		apps[i] = replicaAppend{m: m, p: preparedMessage{flags: sys, keywords: kw, internalDate: m.InternalDate}}
		if m.Body == nil {
			continue
		}
		p, err := a.u.prepareBody(&apps[i].p, bodyReader{r: m.Body, budget: &budget})
		if err != nil {
			a.u.blobs.Abort(pending)
			return res, fmt.Errorf("apply message UID %d: %w", m.UID, err)
		}
		if m.BlobID != "" && apps[i].p.blobID != m.BlobID {
			a.u.blobs.Abort(append(pending, p))
			return res, fmt.Errorf("apply message UID %d: content hash %s, expected %s: %w", m.UID, apps[i].p.blobID, m.BlobID, store.ErrCannot)
		}
		apps[i].hasBody = true
		if p != nil {
			pending = append(pending, p)
		}
	}
	if len(pending) > 0 {
		if err := a.u.blobs.Commit(pending); err != nil {
			return res, fmt.Errorf("apply: %w", err)
		}
	}
	err := a.u.write(ctx, func(t *writeTx) error {
		res = store.ApplyResult{}
		return t.apply(id, b, apps, &res)
	})
	if err != nil {
		return store.ApplyResult{}, fmt.Errorf("apply: %w", err)
	}
	return res, nil
}

// apply is Apply's transaction. First it works out which of the batch's
// changes change anything; then it gives each distinct peer modseq among
// them, in ascending order, a local modseq (max(HIGHESTMODSEQ+1, peer
// modseq)); then it writes.
func (t *writeTx) apply(id store.MailboxID, b store.ApplyBatch, apps []replicaAppend, res *store.ApplyResult) error {
	mb, err := t.mailbox(id)
	if err != nil {
		return err
	}
	res.Before = mb.HighestModSeq
	var needed []store.ModSeq // peer modseqs of effective changes

	// Flags: load the chunks, keep what differs.
	type flagSet struct {
		st  store.MessageState
		sys store.SystemFlags
		kw  kwSetID
	}
	var flagUIDs store.UIDSet
	for _, f := range b.Flags {
		flagUIDs.Add(f.UID)
	}
	cs, err := loadChunks(t, id, clampUIDs(flagUIDs, mb.UIDNext))
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
	for _, f := range b.Flags {
		e := byUID[f.UID]
		if e == nil {
			continue
		}
		sys, kwText, err := normalizeFlags(f.Flags)
		if err != nil {
			return err
		}
		kw, err := t.kwSetFor(kwText)
		if err != nil {
			return err
		}
		if sys == e.flags && kw == e.kw {
			continue
		}
		if b.UnchangedSince != 0 && e.modseq > b.UnchangedSince {
			res.Modified.Add(f.UID)
			continue
		}
		sets = append(sets, flagSet{st: f, sys: sys, kw: kw})
		needed = append(needed, f.ModSeq)
	}

	// Appends: skip what is already here, refuse a used UID.
	var adds []*replicaAppend
	for i := range apps {
		x := &apps[i]
		if x.m.UID < mb.UIDNext {
			var blobID string
			err := t.tx.QueryRowContext(t.ctx, `SELECT c.blob_id FROM messages m JOIN contents c ON c.id = m.content_id
				WHERE m.mailbox_id = ? AND m.uid = ?`, id, x.m.UID).Scan(&blobID)
			if err == nil && blobID == x.m.BlobID {
				continue
			}
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			return fmt.Errorf("append UID %d in %q (UIDNEXT %d): %w", x.m.UID, mb.Name, mb.UIDNext, store.ErrUIDClash)
		}
		adds = append(adds, x)
		needed = append(needed, x.m.ModSeq)
	}

	// Expunges: UIDs that exist, and UIDs this replica never used (at or
	// above UIDNEXT), which get a tombstone so that a client that saw them
	// on the peer learns they vanished; UIDs already gone change nothing.
	type expungeSet struct {
		uids, unused store.UIDSet
		ms           store.ModSeq
	}
	var exps []expungeSet
	for _, e := range b.Expunges {
		present, err := t.existing(id, clampUIDs(e.UIDs, mb.UIDNext))
		if err != nil {
			return err
		}
		var unused store.UIDSet
		for _, r := range e.UIDs {
			if r.Stop >= mb.UIDNext {
				unused.AddRange(max(r.Start, mb.UIDNext), r.Stop)
			}
		}
		if !present.Empty() || !unused.Empty() {
			exps = append(exps, expungeSet{present, unused, e.ModSeq})
			needed = append(needed, e.ModSeq)
		}
	}

	// Local modseqs, one per distinct peer modseq, ascending.
	slices.Sort(needed)
	needed = slices.Compact(needed)
	local := make(map[store.ModSeq]store.ModSeq, len(needed))
	for _, r := range needed {
		m, err := t.newModseq(id, r)
		if err != nil {
			return err
		}
		local[r] = m
	}

	var d counterDelta
	for _, s := range sets {
		e := byUID[s.st.UID]
		ms := local[s.st.ModSeq]
		if err := t.keepHistory(id, mb.historyFrom, *e, ms); err != nil {
			return err
		}
		d.add(e.flags, 0, -1)
		d.add(s.sys, 0, 1)
		e.flags, e.kw, e.modseq = s.sys, s.kw, ms
		chunkOf[s.st.UID].dirty = true
	}
	if err := t.saveChunks(cs); err != nil {
		return err
	}
	if err := t.applyCounters(id, d); err != nil {
		return err
	}
	uidNext := max(mb.UIDNext, b.UIDNext)
	if len(adds) > 0 {
		if err := t.insertReplicated(id, adds, local); err != nil {
			return err
		}
		uidNext = max(uidNext, adds[len(adds)-1].m.UID+1)
	}
	for _, e := range exps {
		gone, err := t.removeMessages(id, e.uids, 0)
		if err != nil {
			return err
		}
		for _, r := range e.unused {
			gone.AddRange(r.Start, r.Stop)
			if r.Stop == store.MaxUID {
				return fmt.Errorf("expunge UID %d: %w", r.Stop, store.ErrInvalidUID)
			}
			uidNext = max(uidNext, r.Stop+1)
		}
		if err := t.addTombstones(id, gone, local[e.ms]); err != nil {
			return err
		}
	}
	if uidNext > mb.UIDNext {
		if _, err := t.tx.ExecContext(t.ctx, `UPDATE mailboxes SET uidnext = ? WHERE id = ?`, uidNext, id); err != nil {
			return err
		}
	}
	res.UIDNext = uidNext
	after, err := lookupID(t.ctx, t.tx, id)
	if err != nil {
		return err
	}
	res.After = after.HighestModSeq
	if b.HighestModSeq > res.After {
		if _, err := t.newModseq(id, b.HighestModSeq); err != nil {
			return err
		}
		res.After = t.touched[id]
	}
	if b.KeepHistory && res.After > mb.historyFrom {
		if _, err := t.tx.ExecContext(t.ctx, `UPDATE mailboxes SET history_from = ? WHERE id = ?`, res.After, id); err != nil {
			return err
		}
	}
	if b.State != nil && res.Modified.Empty() {
		return t.setPeerState(b.Peer, mb.GUID, *b.State)
	}
	return nil
}

// existing returns the UIDs of uids that name a message.
func (t *writeTx) existing(id store.MailboxID, uids store.UIDSet) (store.UIDSet, error) {
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

// insertReplicated writes appended messages with their peer identity:
// UID, SAVEDATE, EMAILID, THREADID. A message whose bytes were not sent
// reuses the structure of a contents row with the same hash.
func (t *writeTx) insertReplicated(id store.MailboxID, adds []*replicaAppend, local map[store.ModSeq]store.ModSeq) error {
	insContent, err := t.tx.PrepareContext(t.ctx, `INSERT INTO contents
		(blob_id, size, internaldate, internaldate_zone, email_id, thread_id, structure)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	if err != nil {
		return err
	}
	defer insContent.Close()
	insMessage, err := t.tx.PrepareContext(t.ctx, `INSERT INTO messages
		(mailbox_id, uid, savedate, size, content_id) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer insMessage.Close()
	now := time.Now()
	var d counterDelta
	entries := make([]entry, 0, len(adds))
	for _, x := range adds {
		p := &x.p
		if !x.hasBody {
			err := t.tx.QueryRowContext(t.ctx, `SELECT size, structure FROM contents WHERE blob_id = ? LIMIT 1`, x.m.BlobID).Scan(&p.size, &p.structure)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("append UID %d: content %s is not here: %w", x.m.UID, x.m.BlobID, store.ErrCannot)
			}
			if err != nil {
				return err
			}
			p.blobID = x.m.BlobID
		} else if p.inline != nil {
			if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO bodies (id, data) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, p.blobID, p.inline); err != nil {
				return fmt.Errorf("store body: %w", err)
			}
		}
		kw, err := t.kwSetFor(p.keywords)
		if err != nil {
			return err
		}
		emailID, threadID := x.m.EmailID, x.m.ThreadID
		if emailID == "" {
			emailID = newObjectID('M')
		}
		if threadID == "" {
			if threadID, err = t.threadID(p.thread); err != nil {
				return err
			}
		}
		date := x.m.InternalDate
		if date.IsZero() {
			date = now
		}
		saved := x.m.SaveDate
		if saved.IsZero() {
			saved = now
		}
		_, offset := date.Zone()
		var contentID int64
		if err := insContent.QueryRowContext(t.ctx, p.blobID, p.size, date.Unix(), offset,
			emailID, threadID, p.structure).Scan(&contentID); err != nil {
			return err
		}
		if _, err := insMessage.ExecContext(t.ctx, id, x.m.UID, saved.Unix(), p.size, contentID); err != nil {
			return err
		}
		entries = append(entries, entry{uid: x.m.UID, flags: p.flags, kw: kw, modseq: local[x.m.ModSeq]})
		d.add(p.flags, p.size, 1)
	}
	if err := t.appendEntries(id, entries); err != nil {
		return err
	}
	return t.applyCounters(id, d)
}
