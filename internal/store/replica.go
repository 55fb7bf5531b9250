package store

import (
	"context"
	"errors"
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
}

// Batch is one transaction of a Replica: appends, then flag changes, then
// expunges, then UIDNEXT, all at one modseq, with the sync state.
type Batch struct {
	// Append adds messages. Messages with a UID get that UID; it must be at
	// least the mailbox's UIDNEXT and above every earlier UID of the batch
	// (ErrInvalidUID otherwise), so UIDs are never reused. Messages without
	// one get the next UID.
	Append []ReplicaMessage
	// Flags replaces the flags of existing messages (MessageState.ModSeq is
	// ignored). A message whose flags already are those is left alone, and
	// UIDs that do not exist are ignored.
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
	ModSeq ModSeq

	// Peer names whose sync state this batch writes (a source URL, a peer
	// replica id). State maps keys to new values; a nil value deletes the
	// key. Both are opaque to the store.
	Peer  string
	State map[string][]byte
}

// ReplicaMessage is one message appended by a Replica.
type ReplicaMessage struct {
	UID UID // 0: the next UID
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
}

// ApplyResult reports what a Batch did.
type ApplyResult struct {
	UIDValidity uint32
	ModSeq      ModSeq // 0 when nothing changed
	Appended    []UID  // Appended[i] is the UID of Batch.Append[i]
	Expunged    UIDSet // the UIDs that existed and were removed
}

// ErrUIDValidityUsed means a UIDVALIDITY was asked for that the store
// cannot prove unused for the mailbox name.
var ErrUIDValidityUsed = errors.New("UIDVALIDITY may have been used for this name")

// ErrContentMismatch means a message's bytes did not hash to its
// ContentHash, or a body-less message named content the store lacks.
var ErrContentMismatch = errors.New("content does not match its hash")
