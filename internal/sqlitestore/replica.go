package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/tidemark-mail/tidemark/internal/bodypack"
	"github.com/tidemark-mail/tidemark/internal/derived"
	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/sortthread"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetx"
)

// Replica is a handle on one user's store written as a copy of mail held
// elsewhere; it implements store.Replica. It shares the user's database
// with the Account handles, so its commits are ordinary ones: same write
// lock, modseqs, tombstones and hub notifications.
type Replica struct {
	a *Account
}

var _ store.Replica = (*Replica)(nil)

// OpenReplica returns a Replica handle on a user's store (store.ErrNoUser
// if none). It must be closed.
func (s *Store) OpenReplica(ctx context.Context, user string) (store.Replica, error) {
	a, err := s.openAccount(ctx, user)
	if err != nil {
		return nil, err
	}
	return &Replica{a: a}, nil
}

// User returns the user's (lower-case) name.
func (r *Replica) User() string { return r.a.User() }

// Close releases the handle. It is safe to call more than once.
func (r *Replica) Close() error { return r.a.Close() }

// CreateMailbox creates name with the given UIDVALIDITY, or adopts a
// mailbox of that name that never held a message. See store.Replica.
//
// The proof that a name never had a UIDVALIDITY is the uidvalidity_history
// table, which records every (name, UIDVALIDITY) pair a mailbox has had
// since meta.uidvalidity_history_from: a value below that bound is
// refused, since a mailbox deleted before the history began may have had
// it. A value at or above the manifest's next UIDVALIDITY moves that
// counter past it, so the store never hands it out again.
func (r *Replica) CreateMailbox(ctx context.Context, name string, uidValidity uint32, opts store.CreateOptions) (store.MailboxInfo, error) {
	cname, err := storetx.CheckCreateAt(name, uidValidity, opts)
	if err != nil {
		return store.MailboxInfo{}, err
	}
	var info store.MailboxInfo
	err = r.a.u.write(ctx, func(t *writeTx) (err error) {
		info, err = storetx.CreateMailboxAt(t, cname, uidValidity, opts.SpecialUse)
		return err
	})
	return info, err
}

// UIDValidityUnused implements storetx.ReplicaMailboxes.
func (t *writeTx) UIDValidityUnused(name string, v uint32) (bool, error) {
	var from int64
	err := t.tx.QueryRowContext(t.ctx, `SELECT value FROM meta WHERE key = 'uidvalidity_history_from'`).Scan(&from)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if int64(v) < from {
		return false, nil
	}
	var n int
	err = t.tx.QueryRowContext(t.ctx, `SELECT count(*) FROM uidvalidity_history WHERE name = ? AND uidvalidity = ?`, name, v).Scan(&n)
	return n == 0, err
}

// ReserveUIDValidity implements storetx.ReplicaMailboxes: the counter
// is the manifest's.
func (t *writeTx) ReserveUIDValidity(v uint32) error {
	t.refreshManifest()
	if v >= t.man.UIDValidityNext {
		t.man.UIDValidityNext = v + 1
		t.manDirty = true
	}
	return nil
}

// SetUIDValidity implements storetx.ReplicaMailboxes.
func (t *writeTx) SetUIDValidity(id store.MailboxID, v uint32, special store.SpecialUse) error {
	_, err := t.tx.ExecContext(t.ctx, `UPDATE mailboxes SET uidvalidity = ?, special_use = ? WHERE id = ?`, v, string(special), id)
	return err
}

// recordUIDValidity notes that mailbox name has (had) UIDVALIDITY v.
func (t *writeTx) recordUIDValidity(name string, v uint32) error {
	_, err := t.tx.ExecContext(t.ctx,
		`INSERT INTO uidvalidity_history (name, uidvalidity) VALUES (?, ?) ON CONFLICT DO NOTHING`, name, v)
	if err != nil {
		return fmt.Errorf("record UIDVALIDITY: %w", err)
	}
	return nil
}

// startUIDValidityHistory records, for a database upgraded from before the
// history existed, the bound below which its history is incomplete: every
// UIDVALIDITY handed out before the upgrade is below the manifest's next
// one and the mailboxes' current ones.
func (t *writeTx) startUIDValidityHistory() error {
	var n int
	if err := t.tx.QueryRowContext(t.ctx, `SELECT count(*) FROM meta WHERE key = 'uidvalidity_history_from'`).Scan(&n); err != nil || n > 0 {
		return err
	}
	var maxUV uint32
	if err := t.tx.QueryRowContext(t.ctx, `SELECT coalesce(max(uidvalidity), 0) FROM mailboxes`).Scan(&maxUV); err != nil {
		return err
	}
	t.refreshManifest()
	return t.setUIDValidityHistoryFrom(max(t.man.UIDValidityNext, maxUV+1))
}

func (t *writeTx) setUIDValidityHistoryFrom(v uint32) error {
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO meta (key, value) VALUES ('uidvalidity_history_from', ?)
		ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)`, v)
	return err
}

// Apply makes a batch's changes in one write transaction with its sync
// state. Bodies are read, parsed and (when large) made durable before the
// transaction, as Append does.
func (r *Replica) Apply(ctx context.Context, id store.MailboxID, b store.Batch) (store.ApplyResult, error) {
	var res store.ApplyResult
	if err := b.Check(id); err != nil {
		return res, err
	}
	prepared := make([]preparedMessage, len(b.Append))
	bodies := make([]io.Reader, len(b.Append))
	for i, m := range b.Append {
		sys, kw, err := normalizeFlags(m.Flags)
		if err != nil {
			return res, err
		}
		if err := m.CheckContent(i); err != nil {
			return res, err
		}
		prepared[i] = preparedMessage{flags: sys, keywords: kw, internalDate: m.InternalDate,
			uid: m.UID, saveDate: m.SaveDate, emailID: m.EmailID, threadID: m.ThreadID, derived: m.Derived}
		if pb, ok := m.Body.(*bodypack.Body); ok && bodypack.IsFrame(pb.Packed()) {
			// Sent compressed as its sender stored it: stored so (when
			// inline) rather than compressed again. Open decompressed it,
			// so its bytes are still hashed and checked below.
			prepared[i].packed = pb.Packed()
		}
		bodies[i] = m.Body
	}
	flags, err := normalizeStates(b.Flags)
	if err != nil {
		return res, err
	}
	u := r.a.u
	u.gcMu.RLock()
	defer u.gcMu.RUnlock()
	if err := u.prepareBodies(prepared, bodies); err != nil {
		return res, err
	}
	for i, m := range b.Append {
		if err := m.CheckHash(i, prepared[i].blobID); err != nil {
			return res, err
		}
	}
	err = u.write(ctx, func(t *writeTx) error {
		res = store.ApplyResult{}
		t.atLeast = b.ModSeq
		if err := t.writeSyncState(b.Peer, b.State); err != nil {
			return err
		}
		if id == store.ServerMetadata {
			return storetx.ApplyServerMetadata(t, b.Metadata)
		}
		mb, err := t.mailbox(id)
		if err != nil {
			return err
		}
		res.UIDValidity = mb.UIDValidity
		for i, m := range b.Append {
			if m.Body == nil {
				if err := t.preparedFromStored(&prepared[i], m.ContentHash); err != nil {
					return fmt.Errorf("message %d: %w", i+1, err)
				}
			}
		}
		return t.apply(mb, b, prepared, flags, &res)
	})
	if err != nil {
		return store.ApplyResult{}, err
	}
	for _, p := range prepared {
		if p.usedDerived {
			res.Derived++
		}
	}
	return res, nil
}

// preparedFromStored fills in a body-less message from a stored copy of
// the same content: size, parsed structure and summary, without reading
// the bytes.
func (t *writeTx) preparedFromStored(p *preparedMessage, hash string) error {
	var structure []byte
	err := t.tx.QueryRowContext(t.ctx, `SELECT size, structure, sort_keys, preview FROM contents WHERE blob_id = ? LIMIT 1`, hash).Scan(&p.size, &structure, &p.sortKeys, &p.preview)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("content %s is not stored: %w", hash, store.ErrContentMismatch)
	}
	if err != nil {
		return err
	}
	raw, err := bodypack.Unpack(structure)
	if err != nil {
		return fmt.Errorf("content %s structure: %w", hash, err)
	}
	st, err := message.Unmarshal(raw)
	if err != nil {
		return fmt.Errorf("content %s structure: %w", hash, err)
	}
	p.blobID, p.structure, p.thread = hash, structure, st.ThreadRefs()
	if p.sortKeys == nil { // stored before the summary was kept
		p.sortKeys = sortthread.EncodeKeys(st)
	}
	if !t.u.noText {
		p.text = t.storedText(hash, structure)
	}
	return nil
}

// stateChange is one message's new flags in stored form.
type stateChange struct {
	uid      store.UID
	flags    store.SystemFlags
	keywords string
	modseq   store.ModSeq // the peer's modseq, 0: none
}

// normalizeStates checks and normalizes the flags of a batch, ascending
// by UID (the last one wins for a repeated UID).
func normalizeStates(in []store.MessageState) ([]stateChange, error) {
	out := make([]stateChange, 0, len(in))
	for _, m := range in {
		if m.UID == 0 {
			return nil, fmt.Errorf("flags for UID 0: %w", store.ErrInvalidUID)
		}
		sys, kw, err := normalizeFlags(m.Flags)
		if err != nil {
			return nil, err
		}
		out = append(out, stateChange{uid: m.UID, flags: sys, keywords: kw, modseq: m.ModSeq})
	}
	slices.SortStableFunc(out, func(a, b stateChange) int { return int(int64(a.uid) - int64(b.uid)) })
	for i := len(out) - 1; i > 0; i-- {
		if out[i].uid == out[i-1].uid {
			out = slices.Delete(out, i-1, i)
		}
	}
	return out, nil
}

// writeSyncState upserts (or, for nil values, deletes) peer's keys.
func (t *writeTx) writeSyncState(peer string, state map[string][]byte) error {
	for k, v := range state {
		var err error
		if v == nil {
			_, err = t.tx.ExecContext(t.ctx, `DELETE FROM sync_state WHERE peer = ? AND key = ?`, peer, k)
		} else {
			_, err = t.tx.ExecContext(t.ctx, `INSERT INTO sync_state (peer, key, value) VALUES (?, ?, ?)
				ON CONFLICT (peer, key) DO UPDATE SET value = excluded.value`, peer, k, v)
		}
		if err != nil {
			return fmt.Errorf("sync state: %w", err)
		}
	}
	return nil
}

// FindContent looks hashes up through the contents (blob_id) and
// messages (content_id) indexes.
func (r *Replica) FindContent(ctx context.Context, id store.MailboxID, hashes []string) (map[string][]store.UID, error) {
	out := make(map[string][]store.UID)
	err := r.a.u.readTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `SELECT m.uid FROM contents c JOIN messages m ON m.content_id = c.id
			WHERE c.blob_id = ? AND m.mailbox_id = ? ORDER BY m.uid`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, h := range hashes {
			if _, done := out[h]; done {
				continue
			}
			rows, err := stmt.QueryContext(ctx, h, id)
			if err != nil {
				return err
			}
			var uids []store.UID
			for rows.Next() {
				var u store.UID
				if err := rows.Scan(&u); err != nil {
					rows.Close()
					return err
				}
				uids = append(uids, u)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if len(uids) > 0 {
				out[h] = uids
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find content: %w", err)
	}
	return out, nil
}

// HasContent reports which hashes some contents row names; their bytes
// stay stored as long as it does. One statement for the whole list.
func (r *Replica) HasContent(ctx context.Context, hashes []string) (map[string]bool, error) {
	out := make(map[string]bool)
	if len(hashes) == 0 {
		return out, nil
	}
	ids, err := json.Marshal(hashes)
	if err != nil {
		return nil, err
	}
	err = r.a.u.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT value FROM json_each(?)
			WHERE EXISTS (SELECT 1 FROM contents WHERE blob_id = value)`, string(ids))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h string
			if err := rows.Scan(&h); err != nil {
				return err
			}
			out[h] = true
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("has content: %w", err)
	}
	return out, nil
}

var _ store.PackedBodyReader = (*Replica)(nil)

// PackedBodies returns bodies as they are stored: the inline ones read in
// one statement, compressed or not as they are in the bodies table (the
// packed form, compress.go), the others from their blob files, as they
// are.
func (r *Replica) PackedBodies(ctx context.Context, hashes []string) ([][]byte, error) {
	ids, err := json.Marshal(hashes)
	if err != nil {
		return nil, err
	}
	rows, err := r.a.u.r.QueryContext(ctx, `SELECT id, data FROM bodies WHERE id IN (SELECT value FROM json_each(?))`, string(ids))
	if err != nil {
		return nil, fmt.Errorf("packed bodies: %w", err)
	}
	stored := make(map[string][]byte, len(hashes))
	for rows.Next() {
		var id string
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			rows.Close()
			return nil, fmt.Errorf("packed bodies: %w", err)
		}
		stored[id] = data
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("packed bodies: %w", err)
	}
	out := make([][]byte, len(hashes))
	for i, h := range hashes {
		if data, ok := stored[h]; ok {
			out[i] = data
			continue
		}
		f, err := r.a.u.blobs.Open(h)
		if err != nil {
			return nil, fmt.Errorf("body %s: %w", h, storageErr(err))
		}
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("body %s: %w", h, storageErr(err))
		}
		out[i] = bodypack.Raw(data)
	}
	return out, nil
}

var _ store.DerivedReader = (*Replica)(nil)

// Derived seals what the contents rows of hashes hold of their bytes'
// parse: the structure and the summary, read in one statement, without
// the bytes.
func (r *Replica) Derived(ctx context.Context, hashes []string) ([][]byte, error) {
	ids, err := json.Marshal(hashes)
	if err != nil {
		return nil, err
	}
	rows, err := r.a.u.r.QueryContext(ctx, `SELECT blob_id, structure, sort_keys, preview FROM contents
		WHERE blob_id IN (SELECT value FROM json_each(?))`, string(ids))
	if err != nil {
		return nil, fmt.Errorf("derived data: %w", err)
	}
	defer rows.Close()
	sealed := make(map[string][]byte, len(hashes))
	for rows.Next() {
		var h string
		var structure []byte
		var d derived.Data
		if err := rows.Scan(&h, &structure, &d.SortKeys, &d.Preview); err != nil {
			return nil, fmt.Errorf("derived data: %w", err)
		}
		if _, done := sealed[h]; done || d.SortKeys == nil {
			// A copy already sealed, or stored before the summary was
			// kept: the receiver parses.
			continue
		}
		if d.Structure, err = bodypack.Unpack(structure); err != nil {
			continue
		}
		sealed[h] = derived.Seal(h, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("derived data: %w", err)
	}
	return derived.InOrder(hashes, sealed), nil
}

// SyncState reads every key of peer.
func (r *Replica) SyncState(ctx context.Context, peer string) (map[string][]byte, error) {
	rows, err := r.a.u.r.QueryContext(ctx, `SELECT key, value FROM sync_state WHERE peer = ?`, peer)
	if err != nil {
		return nil, fmt.Errorf("sync state: %w", err)
	}
	defer rows.Close()
	out := make(map[string][]byte)
	for rows.Next() {
		var k string
		var v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		if v == nil {
			v = []byte{} // an empty value is a value, not a deletion
		}
		out[k] = v
	}
	return out, rows.Err()
}
