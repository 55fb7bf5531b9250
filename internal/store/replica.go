package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Replica is a user's store written as a copy of mail held elsewhere: by
// another IMAP server during a migration, or by a peer replica. It is
// obtained from Store.OpenReplica, not from an Account, so that wrappers of
// the store (metrics) pass it through.
//
// What it adds to Account is what a copy needs to keep its source's
// identities and to survive a crash without duplicating anything:
//   - a mailbox created with a chosen UIDVALIDITY, refused unless the store
//     can prove that the name never had it;
//   - messages appended at chosen UIDs (raising UIDNEXT), with their
//     SAVEDATE, EMAILID and THREADID, and by content hash when the store
//     already holds the bytes;
//   - lookups by content hash;
//   - sync state per peer, an opaque value per key, written in the same
//     transaction as the changes it covers: after a crash the state and
//     the mail agree, so a resumed sync neither repeats nor skips a change.
//
// Changes made through a Replica are ordinary commits: they get modseqs,
// leave tombstones and are published on the Hub like any other.
type Replica interface {
	User() string
	Close() error

	// CreateMailbox creates name (and missing parents, which get fresh
	// UIDVALIDITYs) with the given UIDVALIDITY. When name exists with that
	// UIDVALIDITY it is returned as it is (an earlier run created it); when
	// it exists and has never held a message (UIDNEXT 1), it is adopted:
	// its UIDVALIDITY is replaced. It fails with ErrUIDValidityUsed when the
	// store cannot prove that no mailbox of this name ever had that
	// UIDVALIDITY (a client may still cache that name and value), with
	// ErrMailboxExists when name exists and has held messages.
	CreateMailbox(ctx context.Context, name string, uidValidity uint32, opts CreateOptions) (MailboxInfo, error)

	// Apply makes the changes of b to mailbox id in one transaction, with
	// b's sync state. With id 0, b may carry only sync state.
	Apply(ctx context.Context, id MailboxID, b Batch) (ApplyResult, error)

	// FindContent returns, for each content hash (MessageData.BlobID)
	// given, the UIDs of the messages of mailbox id with those bytes,
	// ascending; hashes with no message are absent. It reads an index, not
	// the mailbox.
	FindContent(ctx context.Context, id MailboxID, hashes []string) (map[string][]UID, error)
	// HasContent reports which of the hashes the store holds the bytes of,
	// in any mailbox: those can be appended with ReplicaMessage.Body nil.
	HasContent(ctx context.Context, hashes []string) (map[string]bool, error)

	// SyncState returns every key and value stored for peer.
	SyncState(ctx context.Context, peer string) (map[string][]byte, error)

	// Replication between servers (see "Replication" below) adds:

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
	// ReadRound returns what one replication round needs of mailbox id,
	// read in one transaction (one snapshot): ChangesSince(since),
	// Tombstones(since), and the messages that exist among the changed
	// UIDs, the vanished and tombstoned ones and also. A client's write
	// during the round so cannot show a message in a state the changes do
	// not account for.
	ReadRound(ctx context.Context, id MailboxID, since ModSeq, also UIDSet) (Round, error)
	// PeerStates returns the replication state recorded for peer, by
	// mailbox GUID ("" for the account level).
	PeerStates(ctx context.Context, peer string) (map[string]PeerState, error)
	// SetPeerState records state for peer and a mailbox GUID ("" for the
	// account level), raising each field only.
	SetPeerState(ctx context.Context, peer, guid string, ps PeerState) error
	// ForgetPeer drops every replication state recorded for peer: it no
	// longer holds back tombstone pruning, and a later sync with it starts
	// over (comparing UID lists where history is gone).
	ForgetPeer(ctx context.Context, peer string) error
	// PruneMailboxTombstones forgets the tombstones of deleted mailboxes
	// (with what their deletes saw) stamped at or below before, an
	// account counter value, but never above the lowest account-level
	// point a peer confirmed (PeerState.Confirmed under the empty GUID),
	// and never that of a mailbox held again under its GUID. It returns
	// how many went. A peer that synced a mailbox keeps a PeerState for
	// it, which is how a sync still tells "deleted there" once the
	// tombstone is gone (docs/replication.md, "Pruning").
	PruneMailboxTombstones(ctx context.Context, before uint64) (int, error)
}

// Round is one mailbox as a replication round reads it (Replica.ReadRound).
type Round struct {
	Changes
	Tombstones []Expunged
	// Messages are ascending by UID; their Structure is nil (a round
	// needs identities and states, not the MIME tree).
	Messages []*MessageData
	// Metadata are the mailbox's RFC 5464 entries changed above since,
	// deleted ones with a nil Value (MetadataChangedSince).
	Metadata []MetadataEntry
	// Stamps are the flag stamps of Messages, for those with any.
	Stamps map[UID]FlagStamps
}

// InPlay returns the UIDs a round is about on this side: changed,
// vanished or tombstoned.
func (r Round) InPlay() UIDSet {
	var s UIDSet
	for _, m := range r.Changed {
		s.Add(m.UID)
	}
	for _, g := range r.Vanished {
		s.AddRange(g.Start, g.Stop)
	}
	for _, t := range r.Tombstones {
		for _, g := range t.UIDs {
			s.AddRange(g.Start, g.Stop)
		}
	}
	return s
}

// Batch is one transaction of a Replica: appends, then flag changes, then
// expunges, then UIDNEXT, all at one modseq, with the sync state.
type Batch struct {
	// Append adds messages. Messages with a UID get that UID; it must be at
	// least the mailbox's UIDNEXT and above every earlier UID of the batch
	// (ErrInvalidUID otherwise), so UIDs are never reused. Messages without
	// one get the next UID.
	Append []ReplicaMessage
	// Flags replaces the flags of existing messages. A message whose flags
	// already are those is left alone, and UIDs that do not exist are
	// ignored. MessageState.ModSeq is the peer's modseq of the change (0:
	// none, see ModSeq).
	Flags []MessageState
	// Expunge removes the messages of the set that exist, leaving
	// tombstones.
	Expunge UIDSet
	// UIDNext raises the mailbox's UIDNEXT to at least this (a copy
	// keeping its source's UIDs also keeps its UIDNEXT); 0 leaves it.
	UIDNext UID
	// ModSeq, when non-zero, is a lower bound for the modseq of this
	// batch's changes: they get max(HIGHESTMODSEQ+1, ModSeq), so a copy
	// can stay at or above its source's modseqs. A batch that changes
	// nothing allocates no modseq.
	//
	// Changes that carry their own peer modseq (ReplicaMessage.ModSeq,
	// MessageState.ModSeq in Flags, Expunged.ModSeq) are grouped by it:
	// each distinct value, in ascending order, gets its own local modseq
	// max(HIGHESTMODSEQ+1, value), so a replica that only receives ends
	// with its source's modseqs exactly. Changes without one share the
	// group of ModSeq.
	ModSeq ModSeq

	// Expunges are expunges made on a peer, each at its modseq. UIDs this
	// mailbox does not hold and has no tombstone for (never used, at or
	// above UIDNEXT, or below UIDNEXT but never received) get tombstones
	// too, so that a client that saw them on the peer learns they vanished;
	// UIDs already tombstoned change nothing.
	Expunges []Expunged
	// Metadata are RFC 5464 entries of the mailbox set (or, with a nil
	// Value, deleted) on a peer, each at its peer modseq (MetadataEntry.
	// ModSeq), grouped with the batch's other peer modseqs. An entry
	// already so changes nothing; one changed here after UnchangedSince
	// is left alone (the sync's next round settles it). With mailbox id
	// 0 (ServerMetadata) they are server entries, each written at
	// max(the server entries' counter + 1, its peer modseq).
	Metadata []MetadataEntry
	// UnchangedSince, when non-zero, keeps Flags off messages whose local
	// modseq is greater (a local change made after the caller looked);
	// they are reported in ApplyResult.Modified.
	UnchangedSince ModSeq
	// HighestModSeq raises the mailbox's HIGHESTMODSEQ to at least this
	// (0: no change).
	HighestModSeq ModSeq
	// KeepHistory raises the modseq at or below which replaced flags are
	// kept (see Replica.FlagsAt) to the HIGHESTMODSEQ this batch ends at.
	KeepHistory bool
	// Stamps are the flag stamps (FlagStamps) of the messages of Append
	// and Flags, by UID: a message this batch appends or whose flags it
	// changes takes exactly these (none given: every flag at stamp 0).
	// A message whose flags are already those keeps its stamps.
	Stamps map[UID]FlagStamps
	// Sync, when not nil, is recorded as Peer's PeerState for this
	// mailbox, provided the whole batch applied (Modified is empty).
	Sync *PeerState

	// Peer names whose sync state this batch writes (a source URL, a peer
	// replica id). State maps keys to new values; a nil value deletes the
	// key. Both are opaque to the store.
	Peer  string
	State map[string][]byte
}

// ReplicaMessage is one message appended by a Replica.
type ReplicaMessage struct {
	UID UID // 0: the next UID
	// ModSeq is the message's modseq on the peer (see Batch.ModSeq); 0:
	// none.
	ModSeq ModSeq
	// Body yields the bytes. When nil, ContentHash must name bytes the
	// store holds (HasContent), and they are not read again.
	Body io.Reader
	// ContentHash is the hex SHA-256 of the bytes. With a Body it is
	// optional; when given it is checked, and a mismatch fails the batch.
	ContentHash  string
	Flags        Flags
	InternalDate time.Time // zero: now
	SaveDate     time.Time // zero: now
	// EmailID and ThreadID (RFC 8474) are kept when given, so a replica
	// shows the same object ids as its source; empty ones are assigned.
	EmailID  string
	ThreadID string
	// Derived, with a Body, is what the sender derived from the bytes
	// (DerivedReader): a store may keep it instead of parsing the body,
	// when it was sealed for the bytes' hash in the store's own formats
	// and arrived whole (derived.Open); otherwise, or when nil, the body
	// is parsed.
	Derived []byte
}

// DerivedReader is a Replica that can hand out what it derived from the
// bytes of contents it holds, so that a replica receiving the bytes need
// not parse them again.
type DerivedReader interface {
	// Derived returns, for each content hash, its payload (derived.Seal):
	// nil for a content not held, or whose data is not in this version's
	// formats.
	Derived(ctx context.Context, hashes []string) ([][]byte, error)
}

// PackedBodyReader is a Replica that can hand out bodies in the packed
// form of package bodypack as it stores them, so that a replica keeping
// bodies in that form stores them without compressing them again, and
// fewer bytes cross the network. A receiving store takes a packed body as
// the Body of a ReplicaMessage opened by bodypack.Open: it reads as the
// bytes, and a store that keeps bodies packed may keep its Packed form.
type PackedBodyReader interface {
	// PackedBodies returns each content's packed bytes; it fails, as
	// reading the body would, when one is not held.
	PackedBodies(ctx context.Context, hashes []string) ([][]byte, error)
}

// ApplyResult reports what a Batch did.
type ApplyResult struct {
	UIDValidity uint32
	ModSeq      ModSeq // 0 when nothing changed
	Appended    []UID  // Appended[i] is the UID of Batch.Append[i]
	Expunged    UIDSet // the UIDs that existed and were removed
	// Before and After are HIGHESTMODSEQ when the transaction began and
	// when it ended; UIDNext is UIDNEXT after it.
	Before, After ModSeq
	UIDNext       UID
	// Modified lists the Flags not applied because of UnchangedSince.
	Modified UIDSet
	// Derived counts the appended bodies whose ReplicaMessage.Derived the
	// store kept instead of parsing them.
	Derived int
}

// ErrUIDValidityUsed means a UIDVALIDITY was asked for that the store
// cannot prove unused for the mailbox name.
var ErrUIDValidityUsed = errors.New("UIDVALIDITY may have been used for this name")

// ErrContentMismatch means a message's bytes did not hash to its
// ContentHash, or a body-less message named content the store lacks.
var ErrContentMismatch = errors.New("content does not match its hash")

// # Replication
//
// Replication between servers (docs/replication.md) reaches a user's mail
// through Replica and Account only, so that it works on every backend.
// What a backend must provide for it:
//
//   - A replicated mailbox id (MailboxInfo.GUID), created once, carried by
//     rename, served as the RFC 8474 MAILBOXID.
//   - An account change counter: every CREATE, RENAME, DELETE, special-use
//     change and (un)subscription takes counter+1 as its stamp
//     (MailboxInfo.Changed, MailboxTombstone.Changed,
//     Subscription.Changed); a deleted mailbox leaves a MailboxTombstone.
//     The counter only grows.
//   - Apply with peer modseqs (Batch.ModSeq): changes applied at
//     max(HIGHESTMODSEQ+1, the peer's modseq); a change already true
//     locally allocates nothing.
//   - Flag history: once KeepHistory has been raised to M for a mailbox, a
//     flag change to a message whose modseq was <= M records the flags it
//     replaced, so FlagsAt can tell the state at a past sync point and
//     concurrent changes merge per flag.
//   - Flag stamps (FlagStamps): once a mailbox has a history point
//     (KeepHistory), a client's flag change stamps each flag it changes
//     with its modseq; ReadRound returns the stamps, Apply writes those
//     of Batch.Stamps. A message's stamps go with it.
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
	// Seen lists the EMAILIDs of the messages the deleting replica had
	// seen in the mailbox (DeletedSeen): those it held when it deleted it
	// and those it knew it had expunged there, with those of the
	// replicas the delete travelled through; a replica holding a message
	// it names lets the delete take it, and keeps the others. Nil when
	// not recorded (a mailbox never synced with a peer, or deleted by an
	// earlier version). Such a tombstone stays when the mailbox is
	// created again under its GUID (OpCreate), so AccountState can list
	// it beside the mailbox: the messages it names stay gone.
	Seen []string
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
	// Seen (OpDelete) is the peer's MailboxTombstone.Seen, added to what
	// the tombstone here records.
	Seen []string
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

// Expunged is a set of UIDs expunged on a peer at one modseq.
type Expunged struct {
	UIDs   UIDSet
	ModSeq ModSeq
	// EmailIDs names, where known, the message (RFC 8474 EMAILID) each UID
	// held, so that a replica can tell "this message was expunged" from
	// "another message had this UID". Replica.Tombstones fills it for
	// mailboxes that have been synced; Apply records what it is given for
	// UIDs the mailbox never used, and adds it to what it records for a
	// UID it held (another message had it here: a UID clash). A value may
	// so name several EMAILIDs, separated by single spaces: every message
	// known to have been expunged under the UID on some replica.
	EmailIDs map[UID]string
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

// Check refuses what no store applies, before a transaction opens: sync
// state without a peer, changes to mailbox id 0 other than account-level
// sync state and METADATA, and UID 0 in an expunge.
func (b Batch) Check(id MailboxID) error {
	if len(b.State) > 0 && b.Peer == "" {
		return fmt.Errorf("sync state without a peer: %w", ErrCannot)
	}
	if id == 0 && (len(b.Append) > 0 || len(b.Flags) > 0 || !b.Expunge.Empty() || b.UIDNext != 0 ||
		len(b.Expunges) > 0 || b.HighestModSeq != 0 || b.KeepHistory || b.Sync != nil) {
		return fmt.Errorf("changes without a mailbox: %w", ErrNoMailbox)
	}
	if err := CheckUIDs(b.Expunge); err != nil {
		return err
	}
	for _, e := range b.Expunges {
		if err := CheckUIDs(e.UIDs); err != nil {
			return err
		}
	}
	return nil
}

// CheckContent refuses the i-th append of a batch (counted from 0) when
// it names its content by a hash that is no content id, or has neither
// bytes nor a hash.
func (m ReplicaMessage) CheckContent(i int) error {
	if m.ContentHash != "" && !ValidContentHash(m.ContentHash) || m.Body == nil && m.ContentHash == "" {
		return fmt.Errorf("message %d: content hash %q: %w", i+1, m.ContentHash, ErrContentMismatch)
	}
	return nil
}

// CheckHash refuses the i-th append of a batch (counted from 0) when its
// bytes hash to got, not to the hash it names.
func (m ReplicaMessage) CheckHash(i int, got string) error {
	if m.Body != nil && m.ContentHash != "" && m.ContentHash != got {
		return fmt.Errorf("message %d: bytes hash to %s, not %s: %w", i+1, got, m.ContentHash, ErrContentMismatch)
	}
	return nil
}

// ValidContentHash accepts the form content ids have: 64 lower-case hex
// digits.
func ValidContentHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
