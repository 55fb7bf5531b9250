package store

import (
	"bytes"
	"context"
	"time"
)

// Replication of access control lists (RFC 4314) and URLAUTH access keys
// (RFC 4467) between replicas (docs/replication.md). Each ACL entry and
// each mailbox's key carries a stamp, and a removal (an entry's rights
// taken away, a key removed by RESETKEY) keeps its row, with no value,
// so that it travels like a change and a replica still holding the
// older value gives it up. Between two records of one entry the larger
// stamp wins, with the deterministic tie-breaks of Beats.
//
// A stamp is a hybrid logical clock per user (NextStamp): the time in
// nanoseconds, or one more than the largest stamp of the user's entries
// and keys when that is larger, so a change made after seeing another
// (applied here with its stamp) always wins over it, whatever the
// replicas' clocks say.

// ACLRecord is one entry of a mailbox's access control list as it
// replicates.
type ACLRecord struct {
	Mailbox    string // the mailbox's replicated id (MailboxInfo.GUID)
	Identifier string
	Rights     string // "": the entry was removed
	Stamp      uint64
}

// Beats reports whether r wins over o, another record of the same entry:
// the larger stamp; at equal stamps fewer rights (a removal first), then
// the smaller rights string, so that a right taken away on one replica
// is not brought back by a tie.
func (r ACLRecord) Beats(o ACLRecord) bool {
	if r.Stamp != o.Stamp {
		return r.Stamp > o.Stamp
	}
	if len(r.Rights) != len(o.Rights) {
		return len(r.Rights) < len(o.Rights)
	}
	return r.Rights < o.Rights
}

// AccessKeyRecord is one mailbox's URLAUTH access key as it replicates.
type AccessKeyRecord struct {
	Mailbox string // the mailbox's replicated id
	Key     []byte // empty: removed (RESETKEY without a mailbox)
	Stamp   uint64
}

// Beats reports whether r wins over o, another record of the same
// mailbox's key: the larger stamp; at equal stamps a removal, then the
// larger key.
func (r AccessKeyRecord) Beats(o AccessKeyRecord) bool {
	if r.Stamp != o.Stamp {
		return r.Stamp > o.Stamp
	}
	if (len(r.Key) == 0) != (len(o.Key) == 0) {
		return len(r.Key) == 0
	}
	return bytes.Compare(r.Key, o.Key) > 0
}

// NextStamp returns the stamp of a change made now by a user whose
// entries and keys have highest as their largest stamp.
func NextStamp(now time.Time, highest uint64) uint64 {
	return max(uint64(now.UnixNano()), highest+1)
}

// ACLReplica is implemented by the ACL handles (ACLStore.OpenACL) of
// stores whose lists replicate.
type ACLReplica interface {
	// ACLRecords returns every entry of the user's mailboxes, removed
	// ones with empty Rights, by mailbox GUID and identifier.
	ACLRecords(ctx context.Context) ([]ACLRecord, error)
	// ApplyACLRecords writes, in one durable transaction, each record
	// that beats the entry held here (or names one held nowhere here),
	// keeping its stamp. Records of mailboxes that do not exist here are
	// skipped. It returns how many were written.
	ApplyACLRecords(ctx context.Context, recs []ACLRecord) (int, error)
}

// AccessKeyReplica is implemented by the access key handles
// (AccessKeyStore.OpenAccessKeys) of stores whose keys replicate.
type AccessKeyReplica interface {
	// AccessKeyRecords returns every key of the user's mailboxes,
	// removed ones with an empty Key.
	AccessKeyRecords(ctx context.Context) ([]AccessKeyRecord, error)
	// ApplyAccessKeyRecords is ApplyACLRecords for keys.
	ApplyAccessKeyRecords(ctx context.Context, recs []AccessKeyRecord) (int, error)
}

// ApplyRecords is the loop a backend runs, inside one transaction, for
// ApplyACLRecords and ApplyAccessKeyRecords: each record whose mailbox
// exists here (mailbox) is written (put) when the store holds none of it
// (held reports false) or one it beats. It returns how many were written.
func ApplyRecords[R interface{ Beats(R) bool }](recs []R, mailbox func(R) (MailboxID, bool, error),
	held func(MailboxID, R) (R, bool, error), put func(MailboxID, R) error) (int, error) {
	n := 0
	for _, r := range recs {
		id, ok, err := mailbox(r)
		if err != nil {
			return 0, err
		} else if !ok {
			continue
		}
		cur, ok, err := held(id, r)
		if err != nil {
			return 0, err
		} else if ok && !r.Beats(cur) {
			continue
		}
		if err := put(id, r); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// SharingPeers is implemented by the ACL handles of stores that record,
// per replication peer, the ACL entries and access keys both replicas
// held when their last exchange of them ended (docs/replication.md,
// "Pruning"). A removal row every known peer holds may then be pruned,
// and an entry or key one side has no row of, while the other's is one
// they held in common, was removed on the first and pruned since.
type SharingPeers interface {
	// SharingPeer returns what is recorded for peer, and whether the peer
	// is known at all (recorded with nothing in common is still known).
	// Only each record's stamp and whether it is a removal are kept: a
	// held entry comes back with Rights "?", a held key with a one-byte
	// Key (a key's bytes are not copied).
	SharingPeer(ctx context.Context, peer string) (acl []ACLRecord, keys []AccessKeyRecord, known bool, err error)
	// SetSharingPeer replaces what is recorded for peer.
	SetSharingPeer(ctx context.Context, peer string, acl []ACLRecord, keys []AccessKeyRecord) error
	// ForgetSharingPeer drops what is recorded for peer.
	ForgetSharingPeer(ctx context.Context, peer string) error
	// PruneSharing deletes the removal rows (an entry with no rights, an
	// empty key) stamped at or below before that every known peer holds
	// (its recorded row is a removal at least as new), and forgets the
	// recorded removals of rows held here no more. It returns how many
	// rows went.
	PruneSharing(ctx context.Context, before uint64) (int, error)
}

// SharingPeersOf returns the SharingPeers of an ACL handle, looking
// through wrappers that pass the handle on (Unwrap).
func SharingPeersOf(h ACL) (SharingPeers, bool) {
	for {
		if sp, ok := h.(SharingPeers); ok {
			return sp, true
		}
		w, ok := h.(interface{ Unwrap() ACL })
		if !ok {
			return nil, false
		}
		h = w.Unwrap()
	}
}

// SharingPeerRow is one row of what a store records for a peer
// (SharingPeers): an ACL entry, an access key, or the marker that the peer
// is known. Both backends store these rows; the encoding is here once.
type SharingPeerRow struct {
	Kind       int // SharingRowACL, SharingRowKey or SharingRowKnown
	Mailbox    string
	Identifier string // the ACL entry's; "" for the others
	Stamp      int64
	Removed    bool
}

// The kinds of SharingPeerRow; stored, so never renumbered.
const (
	SharingRowACL = iota
	SharingRowKey
	SharingRowKnown
)

// SharingPeerRows is what SetSharingPeer records: the known marker, then
// each entry and key with its stamp and whether it is a removal.
func SharingPeerRows(acl []ACLRecord, keys []AccessKeyRecord) []SharingPeerRow {
	rows := make([]SharingPeerRow, 0, 1+len(acl)+len(keys))
	rows = append(rows, SharingPeerRow{Kind: SharingRowKnown})
	for _, r := range acl {
		rows = append(rows, SharingPeerRow{Kind: SharingRowACL, Mailbox: r.Mailbox, Identifier: r.Identifier, Stamp: int64(r.Stamp), Removed: r.Rights == ""})
	}
	for _, r := range keys {
		rows = append(rows, SharingPeerRow{Kind: SharingRowKey, Mailbox: r.Mailbox, Stamp: int64(r.Stamp), Removed: len(r.Key) == 0})
	}
	return rows
}

// SharingPeerRecords turns recorded rows back into SharingPeer's answer.
// Only each record's stamp and whether it is a removal are kept: a held
// entry comes back with Rights "?", a held key with a one-byte Key (only
// removals are compared by value).
func SharingPeerRecords(rows []SharingPeerRow) (acl []ACLRecord, keys []AccessKeyRecord, known bool) {
	for _, row := range rows {
		switch row.Kind {
		case SharingRowACL:
			r := ACLRecord{Mailbox: row.Mailbox, Identifier: row.Identifier, Stamp: uint64(row.Stamp)}
			if !row.Removed {
				r.Rights = "?"
			}
			acl = append(acl, r)
		case SharingRowKey:
			r := AccessKeyRecord{Mailbox: row.Mailbox, Stamp: uint64(row.Stamp)}
			if !row.Removed {
				r.Key = []byte{0}
			}
			keys = append(keys, r)
		case SharingRowKnown:
			known = true
		}
	}
	return acl, keys, known
}
