package auth

import (
	"cmp"
	"context"
	"fmt"
)

// Replication of accounts between servers (docs/replication.md).
//
// Every record carries a stamp: a local change takes max(now in Unix
// nanoseconds, highest stamp seen here + 1), and applying a peer's record
// raises "highest seen" to its stamp. So stamps follow the clock when the
// clocks agree, and a change made after seeing another (on any replica)
// always has the larger stamp whatever the clocks say: a hybrid logical
// clock. A delete leaves a tombstone with its stamp, so an older record
// from a peer that had not yet seen the delete does not bring it back.
//
// Between two versions of one name the larger stamp wins; at equal
// stamps a deletion beats a live record, and between two live records the
// larger hash string wins. The order depends only on the records, so
// every replica settles on the same one.

// Record is the replicated state of one account name.
type Record struct {
	Name    string
	Stamp   int64
	Deleted bool
	Hash    string // PHC string; empty when Deleted
	Created int64  // Unix seconds; 0 when Deleted
}

// Newer reports whether r wins over o (same name) by the rule above.
func (r Record) Newer(o Record) bool {
	if c := cmp.Compare(r.Stamp, o.Stamp); c != 0 {
		return c > 0
	}
	if r.Deleted != o.Deleted {
		return r.Deleted
	}
	return r.Hash > o.Hash
}

// nextStamp allocates the stamp of a local change and records it as the
// highest seen.
func (a *Accounts) nextStamp(tx recordTx) (int64, error) {
	seen, err := tx.clock()
	if err != nil {
		return 0, err
	}
	stamp := max(a.opts.Now().UnixNano(), seen+1)
	return stamp, tx.raiseClock(stamp)
}

// Records returns every account and tombstone, ordered by name. A
// replication peer compares them with its own.
func (a *Accounts) Records(ctx context.Context) ([]Record, error) {
	out, err := a.recs.all(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: records: %w", err)
	}
	return out, nil
}

// Apply takes a peer's records: each one that is newer than what is held
// here for its name (or whose name is unknown here) replaces it, in one
// durable transaction. It returns how many were applied. Applying a
// record twice, or an older one, changes nothing.
func (a *Accounts) Apply(ctx context.Context, recs []Record) (int, error) {
	for _, r := range recs {
		if n, err := NormalizeName(r.Name); err != nil || n != r.Name {
			return 0, fmt.Errorf("auth: apply: invalid name %q", r.Name)
		}
		if !r.Deleted {
			if _, err := parsePHC(r.Hash); err != nil {
				return 0, fmt.Errorf("auth: apply %s: %w", r.Name, err)
			}
		}
	}
	var applied []string
	err := a.recs.update(ctx, func(tx recordTx) error {
		applied = applied[:0]
		var top int64
		for _, r := range recs {
			top = max(top, r.Stamp)
			cur, ok, err := tx.current(r.Name)
			if err != nil {
				return fmt.Errorf("%s: %w", r.Name, err)
			}
			if ok && !r.Newer(cur) {
				continue
			}
			if err := tx.put(r, r.Stamp/1e9); err != nil {
				return fmt.Errorf("%s: %w", r.Name, err)
			}
			applied = append(applied, r.Name)
		}
		return tx.raiseClock(top)
	})
	// Forgotten even when the transaction failed: a cache entry may only
	// be dropped too often, never kept over a record that changed.
	for _, name := range applied {
		a.cache.forget(name)
	}
	if err != nil {
		return 0, fmt.Errorf("auth: apply: %w", err)
	}
	return len(applied), nil
}

// Clock returns the highest stamp seen here: it changes with every local
// or applied change, so a pusher polls it to notice changes made by other
// processes (tidemark user).
func (a *Accounts) Clock(ctx context.Context) (int64, error) {
	return a.recs.clock(ctx)
}

// Deleted reports whether name was deleted: it has a tombstone and no
// account. Replication leaves such a user's mail alone (and removes it
// where it is still held), so that a deleted user stays deleted.
func (a *Accounts) Deleted(ctx context.Context, name string) (bool, error) {
	d, err := a.recs.deleted(ctx, name)
	if err != nil {
		return false, fmt.Errorf("auth: deleted %s: %w", name, err)
	}
	return d, nil
}

// Pruning (docs/replication.md, "Pruning"). When a full exchange with a
// peer ends, each side records the records both then hold (the winner of
// each name, PeerRecords). A tombstone goes once every known peer holds
// it (its recorded record of the name is that tombstone or a later one)
// and its stamp is older than the retention (PruneTombstones). A record
// can vanish from a replica only so, which is what lets an exchange tell,
// for a name one side has no record of, "pruned there" from "never
// there" (replica.SyncLogins).

// PeerRecords returns the records recorded for peer at the end of the
// last full exchange with it, and whether the peer is known at all.
func (a *Accounts) PeerRecords(ctx context.Context, peer string) ([]Record, bool, error) {
	recs, known, err := a.recs.peerRecords(ctx, peer)
	if err != nil {
		return nil, false, fmt.Errorf("auth: peer records: %w", err)
	}
	return recs, known, nil
}

// SetPeerRecords records recs as what this replica and peer both hold.
func (a *Accounts) SetPeerRecords(ctx context.Context, peer string, recs []Record) error {
	if err := a.recs.setPeerRecords(ctx, peer, recs); err != nil {
		return fmt.Errorf("auth: peer records: %w", err)
	}
	return nil
}

// ForgetPeer drops what is recorded for peer: it no longer holds
// tombstones back.
func (a *Accounts) ForgetPeer(ctx context.Context, peer string) error {
	if err := a.recs.forgetPeer(ctx, peer); err != nil {
		return fmt.Errorf("auth: forget peer: %w", err)
	}
	return nil
}

// PruneTombstones forgets the tombstones stamped at or below before
// (Unix nanoseconds) that every known peer holds, and returns how many
// went.
func (a *Accounts) PruneTombstones(ctx context.Context, before int64) (int, error) {
	n, err := a.recs.pruneTombstones(ctx, before)
	if err != nil {
		return 0, fmt.Errorf("auth: prune tombstones: %w", err)
	}
	return n, nil
}

// pruneTombstonesSQL deletes the tombstones at or below the bound (the
// parameter, written param) that no known peer lacks: each peer's
// recorded record of the name is a tombstone at least as new.
func pruneTombstonesSQL(param string) string {
	return `DELETE FROM account_tombstones WHERE stamp <= ` + param + `
		AND NOT EXISTS (SELECT 1 FROM account_peers k WHERE k.name = '' AND NOT EXISTS (
			SELECT 1 FROM account_peers p WHERE p.peer = k.peer AND p.name = account_tombstones.name
			AND p.deleted AND p.stamp >= account_tombstones.stamp))`
}

// dropPrunedPeerRowsSQL forgets the recorded tombstones of names this
// replica no longer has any record of: they were pruned here, and the
// peer's own record (or its tombstone, until it prunes it too) is what
// an exchange needs.
const dropPrunedPeerRowsSQL = `DELETE FROM account_peers WHERE name <> '' AND deleted
	AND NOT EXISTS (SELECT 1 FROM account_tombstones t WHERE t.name = account_peers.name)
	AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.name = account_peers.name)`
