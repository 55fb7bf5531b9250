package store

import (
	"context"
	"errors"
	"io"
	"time"
)

// Replication between servers (docs/replication.md) reaches a user's mail
// through Replica only, so that it works on every backend. What a backend
// must provide beyond Account:
//
//   - A replicated mailbox id (MailboxInfo.GUID), created once, carried by
//     rename, served as the RFC 8474 MAILBOXID.
//   - An account change counter: every CREATE, RENAME, DELETE, special-use
//     change and (un)subscription takes counter+1 as its stamp
//     (MailboxInfo.Changed, MailboxTombstone.Changed,
//     Subscription.Changed); a deleted mailbox leaves a MailboxTombstone.
//     The counter only grows.
//   - Apply: changes made on a peer, applied in one transaction at
//     max(HIGHESTMODSEQ+1, the peer's modseq), each distinct peer modseq in
//     ascending order getting its own local modseq, so a replica that only
//     receives ends with the same modseqs as its source. A change already
//     true locally allocates nothing.
//   - Flag history: once KeepHistory has been raised to M for a mailbox, a
//     flag change to a message whose modseq was <= M records the flags it
//     replaced, so FlagsAt can tell the state at a past sync point and
//     concurrent changes merge per flag.
//   - Per-peer sync state (PeerState) written in the same transaction as
//     the changes it covers, and tombstones never pruned above the lowest
//     point a peer confirmed.

// ErrUIDClash is returned by Apply when a message is to be appended at a
// UID the mailbox has already used for something else.
var ErrUIDClash = errors.New("UID already used")

// AccountState is a user's account-level state.
type AccountState struct {
	Counter       uint64 // the account change counter now
	Mailboxes     []MailboxInfo
	Deleted       []MailboxTombstone
	Subscriptions []Subscription // current and removed subscriptions
}

// MailboxTombstone records a deleted mailbox.
type MailboxTombstone struct {
	GUID    string
	Name    string // its name when deleted
	Changed uint64 // account counter of the deletion
}

// Subscription is the last change to one subscribed name.
type Subscription struct {
	Name       string
	Subscribed bool
	Changed    uint64
}

// AccountOpKind says what an AccountOp does.
type AccountOpKind uint8

const (
	// OpCreate creates mailbox GUID named Name with UIDValidity and
	// SpecialUse; parents are not created. Nothing happens when the GUID
	// exists.
	OpCreate AccountOpKind = iota + 1
	// OpRename renames mailbox GUID (only it, not its children) to Name.
	OpRename
	// OpSpecialUse sets mailbox GUID's special-use to SpecialUse.
	OpSpecialUse
	// OpDelete deletes mailbox GUID and its messages, leaving a mailbox
	// tombstone (recorded even when the mailbox is not here).
	OpDelete
	// OpSubscribe and OpUnsubscribe change the subscription of Name.
	OpSubscribe
	OpUnsubscribe
	// OpAdopt gives mailbox GUID, which must hold no message, the identity
	// NewGUID and UIDValidity, with UIDNEXT 1 and no expunge history: the
	// same mailbox created independently on two replicas (INBOX) becomes
	// one.
	OpAdopt
)

// AccountOp is one account-level change made on a peer.
type AccountOp struct {
	Kind        AccountOpKind
	GUID        string
	NewGUID     string // OpAdopt
	Name        string
	UIDValidity uint32
	SpecialUse  SpecialUse
	// Stamp is the change's counter on the peer; it is applied here at
	// max(counter+1, Stamp), so stamps order changes across replicas.
	Stamp uint64
	// HighestModSeq (OpCreate) starts the new mailbox's HIGHESTMODSEQ at
	// least this high: a mailbox created again under a GUID a peer has
	// synced must not reuse modseqs the peer has recorded.
	HighestModSeq ModSeq
}

// AccountApplyResult reports an ApplyAccount: the account counter when
// the transaction began and when it ended.
type AccountApplyResult struct {
	Before, After uint64
}

// PeerState is what one replica knows about its sync with a peer, for one
// mailbox (by GUID) or, under the empty GUID, for the account level.
type PeerState struct {
	// Applied is the peer's modseq (account counter) up to which the
	// peer's changes are applied here.
	Applied ModSeq
	// Confirmed is the local modseq (account counter) up to which the peer
	// holds this replica's changes. Tombstones and flag history are kept
	// above it.
	Confirmed ModSeq
	// UIDNext is the UIDNEXT both sides had when they last converged:
	// messages at or above it are new since.
	UIDNext UID
}

// ReplicaMessage is a message appended by Apply with the identity it has
// on the peer.
type ReplicaMessage struct {
	UID          UID
	ModSeq       ModSeq // the peer's modseq of the message
	Flags        Flags
	InternalDate time.Time
	SaveDate     time.Time
	EmailID      string
	ThreadID     string
	BlobID       string // hex SHA-256 of the bytes
	// Body yields the bytes; nil when the store already holds BlobID
	// (HasBodies), which it then reuses without reading them again.
	Body io.Reader
}

// Expunged is a set of UIDs expunged on a peer at one modseq.
type Expunged struct {
	UIDs   UIDSet
	ModSeq ModSeq
}

// ApplyBatch is one transaction of changes made on a peer.
type ApplyBatch struct {
	// Appends, ascending by UID. A UID below UIDNEXT is skipped when the
	// same content is already there, and fails with ErrUIDClash otherwise.
	Appends []ReplicaMessage
	// Flags sets absolute flags; ModSeq is the peer's modseq of the change.
	// Missing UIDs are skipped.
	Flags []MessageState
	// UnchangedSince, when non-zero, keeps Flags off messages whose local
	// modseq is greater (a local change made after the caller looked);
	// they are reported in ApplyResult.Modified.
	UnchangedSince ModSeq
	// Expunges remove the UIDs that exist, leaving tombstones.
	Expunges []Expunged
	// UIDNext and HighestModSeq raise the mailbox's values to at least
	// these (0: no change).
	UIDNext       UID
	HighestModSeq ModSeq
	// KeepHistory raises the modseq at or below which replaced flags are
	// kept (see FlagsAt) to the HIGHESTMODSEQ this batch ends at.
	KeepHistory bool
	// Peer and State, when State is not nil, are recorded in the same
	// transaction, provided the whole batch applied (Modified is empty).
	Peer  string
	State *PeerState
}

// ApplyResult reports an Apply.
type ApplyResult struct {
	Before, After ModSeq // HIGHESTMODSEQ when the transaction began and ended
	UIDNext       UID    // after the transaction
	Modified      UIDSet // Flags not applied because of UnchangedSince
}

// Replica is one user's store as replication sees it. Every method is
// atomic and durable like Account's.
type Replica interface {
	Account
	// AccountState returns mailboxes, mailbox tombstones, subscriptions and
	// the account change counter, read in one transaction.
	AccountState(ctx context.Context) (AccountState, error)
	// ApplyAccount applies peer changes in order in one transaction, each
	// at max(counter+1, Stamp), and records state (when not nil) as the
	// account-level PeerState of peer. A change already true allocates no
	// counter value.
	ApplyAccount(ctx context.Context, ops []AccountOp, peer string, state *PeerState) (AccountApplyResult, error)
	// MailboxByGUID looks a mailbox up by its replicated id (ErrNoMailbox).
	MailboxByGUID(ctx context.Context, guid string) (MailboxInfo, error)
	// FlagsAt returns, for the messages of uids changed after modseq at,
	// the flags they had at at, when the flag history holds them.
	FlagsAt(ctx context.Context, id MailboxID, uids UIDSet, at ModSeq) (map[UID]Flags, error)
	// Tombstones returns the expunges recorded at a modseq above since,
	// ascending by modseq (complete only when since is at or above the
	// mailbox's PrunedBelow).
	Tombstones(ctx context.Context, id MailboxID, since ModSeq) ([]Expunged, error)
	// HasBodies reports, for each content hash, whether the store holds
	// it.
	HasBodies(ctx context.Context, blobIDs []string) ([]bool, error)
	// Apply applies a batch of peer changes in one transaction.
	Apply(ctx context.Context, id MailboxID, b ApplyBatch) (ApplyResult, error)
	// PeerStates returns the state recorded for peer, by mailbox GUID (""
	// for the account level).
	PeerStates(ctx context.Context, peer string) (map[string]PeerState, error)
	// SetPeerState records state for peer and a mailbox GUID ("" for the
	// account level), raising each field only.
	SetPeerState(ctx context.Context, peer, guid string, ps PeerState) error
	// ForgetPeer drops every state recorded for peer: it no longer holds
	// back tombstone pruning, and a later sync with it starts over
	// (comparing UID lists where history is gone).
	ForgetPeer(ctx context.Context, peer string) error
}

// Split tells new messages from changed ones in Changes: given the
// mailbox's UIDNEXT at the modseq the changes start from, messages at or
// above it arrived since (UIDs only grow), the others were there and
// changed. Both keep ascending UID order.
func (c Changes) Split(uidNextThen UID) (added, changed []MessageState) {
	for i, m := range c.Changed {
		if m.UID >= uidNextThen {
			return c.Changed[i:], c.Changed[:i]
		}
	}
	return nil, c.Changed
}
