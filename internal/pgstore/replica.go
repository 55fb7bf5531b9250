package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/derived"
	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/sortthread"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetx"
)

// Replica is a handle on one user's store written as a copy of mail held
// elsewhere (store.Replica: `tidemark import`, `tidemark migrate`,
// replication between servers). Its commits are ordinary ones: the same
// user lock, modseqs, tombstones and notifications as Account's. The
// replication half (account level, flag history, peer state) is in
// replication.go.
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
// table, which records every (name, UIDVALIDITY) pair a mailbox of the
// user has had since users.uidvalidity_history_from: a value below that
// bound is refused, since a mailbox deleted before the history began may
// have had it. A value at or above the user's next UIDVALIDITY moves that
// counter past it, so the store never hands it out again.
func (r *Replica) CreateMailbox(ctx context.Context, name string, uidValidity uint32, opts store.CreateOptions) (store.MailboxInfo, error) {
	cname, err := storetx.CheckCreateAt(name, uidValidity, opts)
	if err != nil {
		return store.MailboxInfo{}, err
	}
	var info store.MailboxInfo
	err = r.a.write(ctx, func(t *writeTx) (err error) {
		info, err = storetx.CreateMailboxAt(t, cname, uidValidity, opts.SpecialUse)
		return err
	})
	return info, err
}

// UIDValidityUnused implements storetx.ReplicaMailboxes; only the
// user's own history counts.
func (t *writeTx) UIDValidityUnused(name string, v uint32) (bool, error) {
	var used bool
	err := t.tx.QueryRow(t.ctx, `SELECT $3 < (SELECT uidvalidity_history_from FROM users WHERE id = $1)
		OR EXISTS (SELECT 1 FROM uidvalidity_history WHERE user_id = $1 AND name = $2 AND uidvalidity = $3)`,
		t.userID, name, int64(v)).Scan(&used)
	return !used, err
}

// ReserveUIDValidity implements storetx.ReplicaMailboxes: the counter
// is the user's row.
func (t *writeTx) ReserveUIDValidity(v uint32) error {
	if int64(v) < t.uidv {
		return nil
	}
	t.uidv = int64(v) + 1
	_, err := t.tx.Exec(t.ctx, `UPDATE users SET uidvalidity_next = $1 WHERE id = $2`, t.uidv, t.userID)
	return err
}

// SetUIDValidity implements storetx.ReplicaMailboxes.
func (t *writeTx) SetUIDValidity(id store.MailboxID, v uint32, special store.SpecialUse) error {
	_, err := t.tx.Exec(t.ctx, `UPDATE mailboxes SET uidvalidity = $1, special_use = $2 WHERE id = $3`, int64(v), string(special), id)
	return err
}

// CreateMailboxAt implements storetx.ReplicaMailboxes.
func (t *writeTx) CreateMailboxAt(name string, v uint32, special store.SpecialUse) (store.MailboxID, error) {
	return t.insertMailbox(name, special, store.NewObjectID('M'), v, 0)
}

// Apply makes a batch's changes in one write transaction with its sync
// state. Bodies are read, hashed and parsed before the transaction, as
// Append does; a body-less message takes its size and structure from a
// stored copy of the user's, so no bytes travel twice.
func (r *Replica) Apply(ctx context.Context, id store.MailboxID, b store.Batch) (store.ApplyResult, error) {
	var res store.ApplyResult
	if err := b.Check(id); err != nil {
		return res, err
	}
	prepared := make([]preparedMessage, len(b.Append))
	budget := int64(memoryBatchMax)
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
		if m.Body == nil {
			continue
		}
		cleanup, err := r.a.spool(&prepared[i], m.Body, &budget)
		if err != nil {
			return res, fmt.Errorf("message %d: %w", i+1, err)
		}
		defer cleanup()
		if err := m.CheckHash(i, prepared[i].blobID); err != nil {
			return res, err
		}
		if err := prepared[i].parse(!r.a.s.opts.NoTextIndex); err != nil {
			return res, fmt.Errorf("message %d: %w", i+1, err)
		}
	}
	flags, err := normalizeStates(b.Flags)
	if err != nil {
		return res, err
	}
	now := r.a.s.now()
	err = r.a.write(ctx, func(t *writeTx) error {
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
		return t.apply(mb, b, prepared, flags, now, &res)
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
// the same content of this user's (bodies are shared between users, but
// knowing a hash must not give access to another user's mail): size and
// parsed structure and summary, without reading the bytes.
func (t *writeTx) preparedFromStored(p *preparedMessage, hash string) error {
	var structure []byte
	err := t.tx.QueryRow(t.ctx, `SELECT size, structure, sort_keys, preview FROM contents
		WHERE user_id = $1 AND blob_id = $2 AND orphaned_at IS NULL LIMIT 1`, t.userID, hash).Scan(&p.size, &structure, &p.sortKeys, &p.preview)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("content %s is not stored: %w", hash, store.ErrContentMismatch)
	}
	if err != nil {
		return err
	}
	st, err := message.Unmarshal(structure)
	if err != nil {
		return fmt.Errorf("content %s structure: %w", hash, err)
	}
	p.blobID, p.structure, p.thread, p.body = hash, structure, st.ThreadRefs(), nil
	if p.sortKeys == nil { // stored before the summary was kept
		p.sortKeys = sortthread.EncodeKeys(st)
	}
	if !t.noText {
		p.text = t.storedText(hash, st)
	}
	return nil
}

// stateChange is one message's new flags in stored form.
type stateChange struct {
	uid      store.UID
	flags    store.SystemFlags
	keywords []string
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
	slices.SortStableFunc(out, func(a, b stateChange) int { return cmpUID(a.uid, b.uid) })
	for i := len(out) - 1; i > 0; i-- {
		if out[i].uid == out[i-1].uid {
			out = slices.Delete(out, i-1, i)
		}
	}
	return out, nil
}

func cmpUID(a, b store.UID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// writeSyncState upserts (or, for nil values, deletes) peer's keys.
func (t *writeTx) writeSyncState(peer string, state map[string][]byte) error {
	for k, v := range state {
		var err error
		if v == nil {
			_, err = t.tx.Exec(t.ctx, `DELETE FROM sync_state WHERE user_id = $1 AND peer = $2 AND key = $3`, t.userID, peer, k)
		} else {
			_, err = t.tx.Exec(t.ctx, `INSERT INTO sync_state (user_id, peer, key, value) VALUES ($1, $2, $3, $4)
				ON CONFLICT (user_id, peer, key) DO UPDATE SET value = excluded.value`, t.userID, peer, k, v)
		}
		if err != nil {
			return fmt.Errorf("sync state: %w", err)
		}
	}
	return nil
}

// FindContent looks hashes up through the contents (blob_id) and messages
// (content_id) indexes, in one query.
func (r *Replica) FindContent(ctx context.Context, id store.MailboxID, hashes []string) (map[string][]store.UID, error) {
	out := make(map[string][]store.UID)
	if len(hashes) == 0 {
		return out, nil
	}
	rows, err := r.a.s.pool.Query(ctx, `SELECT c.blob_id, m.uid FROM contents c JOIN messages m ON m.content_id = c.id
		JOIN mailboxes mb ON mb.id = m.mailbox_id
		WHERE c.blob_id = ANY($1) AND m.mailbox_id = $2 AND mb.user_id = $3 ORDER BY m.uid`, hashes, id, r.a.id)
	if err != nil {
		return nil, fmt.Errorf("find content: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h string
		var u store.UID
		if err := rows.Scan(&h, &u); err != nil {
			return nil, fmt.Errorf("find content: %w", err)
		}
		out[h] = append(out[h], u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find content: %w", err)
	}
	return out, nil
}

// HasContent reports which hashes one of the user's live contents rows
// names: their bytes stay stored as long as it does. Other users' copies
// do not count (see preparedFromStored).
func (r *Replica) HasContent(ctx context.Context, hashes []string) (map[string]bool, error) {
	out := make(map[string]bool)
	if len(hashes) == 0 {
		return out, nil
	}
	rows, err := r.a.s.pool.Query(ctx, `SELECT DISTINCT blob_id FROM contents
		WHERE user_id = $1 AND blob_id = ANY($2) AND orphaned_at IS NULL`, r.a.id, hashes)
	if err != nil {
		return nil, fmt.Errorf("has content: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("has content: %w", err)
	}
	for _, h := range found {
		out[h] = true
	}
	return out, nil
}

var _ store.DerivedReader = (*Replica)(nil)

// Derived seals what the contents rows of hashes hold of their bytes'
// parse: the structure and the summary, in one query, without the bytes.
func (r *Replica) Derived(ctx context.Context, hashes []string) ([][]byte, error) {
	if len(hashes) == 0 {
		return make([][]byte, 0), nil
	}
	rows, err := r.a.s.pool.Query(ctx, `SELECT DISTINCT ON (blob_id) blob_id, structure, sort_keys, preview FROM contents
		WHERE user_id = $1 AND blob_id = ANY($2) AND orphaned_at IS NULL AND sort_keys IS NOT NULL`, r.a.id, hashes)
	if err != nil {
		return nil, fmt.Errorf("derived data: %w", err)
	}
	defer rows.Close()
	sealed := make(map[string][]byte, len(hashes))
	for rows.Next() {
		var h string
		var d derived.Data
		if err := rows.Scan(&h, &d.Structure, &d.SortKeys, &d.Preview); err != nil {
			return nil, fmt.Errorf("derived data: %w", err)
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
	rows, err := r.a.s.pool.Query(ctx, `SELECT key, value FROM sync_state WHERE user_id = $1 AND peer = $2`, r.a.id, peer)
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
