// Package store defines Tidemark's mailbox store: the backend-neutral
// interface that the IMAP, LMTP and import code talk to, and the types that
// cross it.
//
// # Model
//
// A user's mail is an ordered change log. Every committed change to a
// mailbox (a new message, a flag change, an expunge) is stamped with the
// mailbox's next modification sequence (ModSeq). One write transaction uses
// one ModSeq for everything it changes, so a STORE over 10,000 messages is a
// single step in the log. Expunged messages leave tombstones (UID + ModSeq),
// so "what changed since M" is always answerable exactly, by range scans on
// ModSeq, in time proportional to the changes rather than the mailbox.
//
// Every method that changes data is atomic and durable when it returns
// without error: a crash at any instant loses no acknowledged change and
// exposes no half-applied one. Every method takes a context.Context.
//
// The store never formats IMAP. Backends publish "mailbox X is now at modseq
// N" on a Hub after each commit; watchers then pull the changes themselves.
//
// Besides Accounts, a store hands out Replicas (replica.go): handles for
// writing a copy of mail held elsewhere — a migration from another server,
// a peer replica — with the source's UIDVALIDITY and UIDs and sync state
// committed together with the changes it covers.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"time"

	"github.com/tidemark-mail/tidemark/internal/message"
)

// UID is a message's unique identifier within one UIDVALIDITY epoch of a
// mailbox. Valid UIDs are 1..MaxUID; zero means "none".
type UID uint32

// MaxUID is the largest UID IMAP can express (RFC 9051 2.3.1.1).
const MaxUID UID = 1<<32 - 1

// ModSeq is a per-mailbox modification sequence. It starts at 1 for a new
// mailbox, grows by one per committed write transaction, and never goes
// backwards: not across restarts, rebuilds or restores (the backend keeps a
// durable floor outside its metadata database). Zero means "none/unknown".
type ModSeq uint64

// MailboxID identifies a mailbox for its whole life, across renames. IDs are
// never reused within a user's store.
type MailboxID int64

// SystemFlags is the bitmask of IMAP system flags a message can carry.
// \Recent is not a stored flag (IMAP4rev2 dropped it): sessions derive it
// from the mailbox's recent floor (RecentStore).
type SystemFlags uint8

const (
	FlagSeen SystemFlags = 1 << iota
	FlagAnswered
	FlagFlagged
	FlagDeleted
	FlagDraft
)

// Flags is a message's full flag state: system flags plus keywords.
// Keywords are IMAP atoms compared case-insensitively; a Flags value holds
// them deduplicated and sorted (see NormalizeKeywords).
type Flags struct {
	System   SystemFlags
	Keywords []string
}

// FlagOp says how a flag change combines with the current flags.
type FlagOp int

const (
	FlagsReplace FlagOp = iota // FLAGS
	FlagsAdd                   // +FLAGS
	FlagsRemove                // -FLAGS
)

// SpecialUse is a mailbox's RFC 6154 attribute, such as `\Sent`; empty when
// none.
type SpecialUse string

// MailboxInfo describes one mailbox.
type MailboxInfo struct {
	ID            MailboxID
	Name          string // full UTF-8 name, hierarchy delimiter '/', "INBOX" for the inbox
	UIDValidity   uint32
	UIDNext       UID
	HighestModSeq ModSeq
	SpecialUse    SpecialUse
	Subscribed    bool
	// GUID is the mailbox's replicated id: created once with the mailbox,
	// carried by rename, the same on every replica of the user. It is the
	// RFC 8474 MAILBOXID.
	GUID string
	// Changed is the account change counter (AccountState.Counter) of the
	// mailbox's last create, rename or special-use change; Created that of
	// its creation here (a mailbox created again by replication after a
	// delete is newer than that delete).
	Changed, Created uint64
}

// MailboxStatus is the data behind STATUS, kept exact by the transactions
// that change a mailbox.
type MailboxStatus struct {
	MailboxInfo
	Messages uint32
	Unseen   uint32
	Deleted  uint32 // messages with \Deleted
	Size     int64  // sum of RFC822.SIZE
}

// CreateOptions are optional attributes of a new mailbox.
type CreateOptions struct {
	SpecialUse SpecialUse
}

// MessageState is what every resync needs of a message.
type MessageState struct {
	UID    UID
	ModSeq ModSeq // modseq of the message's last change
	Flags  Flags
}

// Snapshot is the complete state of a mailbox at one ModSeq, messages in
// ascending UID order.
type Snapshot struct {
	Mailbox  MailboxInfo
	Messages []MessageState
}

// Changes answers "what changed since ModSeq M" for one mailbox.
type Changes struct {
	Mailbox MailboxInfo // HighestModSeq is the point the changes run to
	// Changed lists messages (existing now) whose modseq is > M, in
	// ascending UID order; this includes messages appended after M.
	Changed []MessageState
	// Vanished holds the UIDs expunged at a modseq > M. When M is below
	// PrunedBelow the set is a superset: every UID that may have vanished
	// (UIDs < UIDNext that do not exist now), and Exact is false.
	Vanished UIDSet
	Exact    bool
	// PrunedBelow is the modseq below which tombstones have been pruned; 0
	// when history is complete.
	PrunedBelow ModSeq
}

// NewMessage is one message to append.
type NewMessage struct {
	// Body yields the message bytes exactly as received. The backend writes
	// it to the blob store while hashing it; it does not need to fit in
	// memory.
	Body         io.Reader
	Flags        Flags
	InternalDate time.Time // zero means now
}

// AppendResult reports the UIDs given to appended messages (UIDPLUS).
type AppendResult struct {
	UIDValidity uint32
	UIDs        []UID
	ModSeq      ModSeq
}

// FlagResult reports a flag change.
type FlagResult struct {
	ModSeq ModSeq // modseq given to changed messages; 0 if nothing changed
	// Changed lists messages whose flags actually changed, with their new
	// state, ascending by UID.
	Changed []MessageState
	// Unchanged lists messages that were in the set, passed the
	// UNCHANGEDSINCE test and already had the requested flags; RFC 7162
	// 3.1.3 still reports them to CONDSTORE clients.
	Unchanged []MessageState
	// Modified is the set of UIDs that failed the UNCHANGEDSINCE test
	// (their modseq was greater); nothing was written for them.
	Modified UIDSet
}

// ExpungeResult reports removed messages.
type ExpungeResult struct {
	ModSeq ModSeq // 0 if nothing was expunged
	UIDs   []UID  // ascending
}

// CopyResult reports a COPY or MOVE (UIDPLUS COPYUID).
type CopyResult struct {
	UIDValidity uint32 // of the destination
	SrcUIDs     []UID  // ascending
	DstUIDs     []UID  // DstUIDs[i] is the copy of SrcUIDs[i]
	DstModSeq   ModSeq
	SrcModSeq   ModSeq // MOVE only: modseq of the source expunge
}

// MessageData is everything stored about one message except its bytes.
type MessageData struct {
	MessageState
	InternalDate time.Time
	SaveDate     time.Time
	Size         int64 // RFC822.SIZE: length of the stored bytes
	// BlobID is the hex SHA-256 of the bytes; a ReadMessages gives it
	// with FieldBody or FieldPreview (what may open the bytes).
	BlobID   string
	EmailID  string // RFC 8474 EMAILID; survives COPY and MOVE
	ThreadID string // RFC 8474 THREADID
	// Structure is the parse made at delivery: envelope, body structure,
	// section offsets, decoded header fields.
	Structure *message.Structure
	// Preview is the RFC 8970 preview computed at delivery
	// (message.Preview) when HasPreview; a message stored before the
	// store kept previews has none, and the reader computes it.
	Preview    string
	HasPreview bool
	// Body is the message's bytes when a ReadMessages with FieldBody read
	// them with the message's row (bodies the backend keeps beside its
	// rows); nil otherwise, and for every other read: open them with
	// OpenBlob. It is valid until fn returns.
	Body Blob
}

// Fields says which of a message's stored parts a ReadMessages needs;
// the UID, flags and modseq come with every read. A backend may read
// more than asked (and Messages reads everything), never less.
type Fields uint8

const (
	// FieldEnvelope asks for the envelope alone: Structure holds Size
	// and Envelope, no search fields and no part tree (Root is nil).
	FieldEnvelope Fields = 1 << iota
	// FieldStructure asks for Size and the part tree (decoded when first
	// used), not the search fields: SEARCH and SORT read those through
	// Messages. The envelope comes with FieldEnvelope.
	FieldStructure
	// FieldPreview asks for Preview and HasPreview.
	FieldPreview
	// FieldBody asks for the bytes with the row where the backend can
	// (MessageData.Body), saving an OpenBlob per message.
	FieldBody
	// FieldDates asks for InternalDate and SaveDate.
	FieldDates
	// FieldSize asks for Size.
	FieldSize
	// FieldIDs asks for EmailID and ThreadID.
	FieldIDs
)

// FieldsAll is every field: what Messages reads.
const FieldsAll = FieldEnvelope | FieldStructure | FieldPreview | FieldBody | FieldDates | FieldSize | FieldIDs

// Usage is what a user's store holds, for quotas.
type Usage struct {
	Messages int64
	Bytes    int64
}

// Store is a set of users' stores.
type Store interface {
	// CreateUser makes an empty store for a user, with an INBOX. It fails
	// with ErrUserExists if there is one.
	CreateUser(ctx context.Context, user string) error
	// DeleteUser removes a user's store and all its mail.
	DeleteUser(ctx context.Context, user string) error
	// Users lists user names in ascending order.
	Users(ctx context.Context) ([]string, error)
	// Open returns a handle on a user's store (ErrNoUser if none). Handles
	// on the same user share one underlying database; each must be closed.
	Open(ctx context.Context, user string) (Account, error)
	// OpenReplica returns a handle for writing a user's store as a copy of
	// mail held elsewhere (migration, replication); see Replica. ErrNoUser
	// if none; it must be closed.
	OpenReplica(ctx context.Context, user string) (Replica, error)
	// Hub is where commits are announced.
	Hub() *Hub
	Close() error
}

// Pinger is implemented by a Store that can prove it answers: Ping runs a
// real query against the backend and returns within ctx's deadline. The
// health endpoint uses it (and logs the error, which may name files; the
// probe only learns that the store did not answer).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Account is one user's mail. Mailbox names given to it are full UTF-8
// names with '/' as the hierarchy delimiter; "INBOX" matches
// case-insensitively.
type Account interface {
	User() string
	Close() error

	// CreateMailbox creates name and any missing parents. Fails with
	// ErrMailboxExists, ErrInvalidName.
	CreateMailbox(ctx context.Context, name string, opts CreateOptions) (MailboxInfo, error)
	// DeleteMailbox deletes a mailbox and its messages (not its children).
	// INBOX cannot be deleted. Watchers of the mailbox are woken (with
	// modseq 0) so that they find it gone.
	DeleteMailbox(ctx context.Context, name string) error
	// RenameMailbox renames a mailbox and its whole subtree. Renaming INBOX
	// moves its messages to a new mailbox and leaves INBOX empty
	// (RFC 9051 6.3.6).
	RenameMailbox(ctx context.Context, oldName, newName string) error
	// Mailboxes lists every mailbox, ordered by name.
	Mailboxes(ctx context.Context) ([]MailboxInfo, error)
	// Mailbox looks one mailbox up by name (ErrNoMailbox).
	Mailbox(ctx context.Context, name string) (MailboxInfo, error)
	// SetSubscribed changes a subscription. Subscriptions are names, and may
	// name mailboxes that do not exist.
	SetSubscribed(ctx context.Context, name string, subscribed bool) error
	// Subscriptions lists subscribed names.
	Subscriptions(ctx context.Context) ([]string, error)
	// Status returns a mailbox's counters.
	Status(ctx context.Context, id MailboxID) (MailboxStatus, error)

	// Append adds messages to a mailbox in one transaction.
	Append(ctx context.Context, id MailboxID, msgs []NewMessage) (AppendResult, error)
	// SetFlags changes the flags of the messages in uids. When
	// unchangedSince is non-zero, messages whose modseq is greater are not
	// changed and are reported in FlagResult.Modified (RFC 7162 3.1.3); the
	// test runs inside the write transaction.
	SetFlags(ctx context.Context, id MailboxID, uids UIDSet, op FlagOp, flags Flags, unchangedSince ModSeq) (FlagResult, error)
	// Expunge removes the messages in uids that exist, leaving tombstones.
	Expunge(ctx context.Context, id MailboxID, uids UIDSet) (ExpungeResult, error)
	// ExpungeDeleted removes the messages in within that carry \Deleted
	// when the transaction commits, leaving tombstones (RFC 9051 6.4.3).
	// The flag is tested inside the write transaction, so a message whose
	// \Deleted another session has just cleared survives. Removing nothing
	// allocates no modseq.
	ExpungeDeleted(ctx context.Context, id MailboxID, within UIDSet) (ExpungeResult, error)
	// Copy copies messages (no bytes are copied).
	Copy(ctx context.Context, src, dst MailboxID, uids UIDSet) (CopyResult, error)
	// Move moves messages in one transaction: copies in dst, tombstones in src.
	Move(ctx context.Context, src, dst MailboxID, uids UIDSet) (CopyResult, error)

	// Snapshot returns every message's UID, flags and modseq.
	Snapshot(ctx context.Context, id MailboxID) (Snapshot, error)
	// ChangesSince returns what changed after modseq since, by range scans.
	ChangesSince(ctx context.Context, id MailboxID, since ModSeq) (Changes, error)
	// Messages calls fn for each existing message in uids, ascending by UID,
	// with its stored data. It stops at the first error fn returns.
	//
	// While fn runs, OpenBlob of the BlobID it was given succeeds even if
	// the message is expunged meanwhile: a backend reclaims the bytes of
	// expunged messages only once no Messages call of its process that
	// could have handed them out is still running. So a command that
	// reads bodies opens them inside fn.
	Messages(ctx context.Context, id MailboxID, uids UIDSet, fn func(*MessageData) error) error
	// ReadMessages is Messages reading only the stored parts fields
	// names, for a caller that uses each message while fn runs: the
	// MessageData, its Structure and their slices are reused for the
	// next message once fn returns (strings may be kept). A Structure is
	// set only with FieldEnvelope or FieldStructure. The same guarantee
	// on bodies holds while fn runs.
	ReadMessages(ctx context.Context, id MailboxID, uids UIDSet, fields Fields, fn func(*MessageData) error) error
	// OpenBlob opens a message's bytes. Bytes that are no longer stored
	// (their messages expunged and reclaimed, or lost) give an error
	// wrapping fs.ErrNotExist; a reader outside a Messages call (another
	// process) then rereads the message to tell "expunged meanwhile" from
	// "lost".
	OpenBlob(ctx context.Context, blobID string) (Blob, error)

	// PruneTombstones forgets expunge history at or below modseq before,
	// recording it as the mailbox's PrunedBelow. History is kept forever
	// unless this is called (by the retention setting).
	PruneTombstones(ctx context.Context, id MailboxID, before ModSeq) error
	// Usage reports the totals across all mailboxes.
	Usage(ctx context.Context) (Usage, error)
}

// RecentStore is the IMAP4rev1 \Recent state of an Account's mailboxes
// (RFC 3501 2.3.2), for backends that keep it; the server finds it by a
// type assertion on the Account. Per mailbox the backend keeps one durable
// number, the recent floor: the lowest UID no session has claimed. New
// mailboxes start at 1; messages added by any means (APPEND, COPY, MOVE,
// delivery) get UIDs at or above it and are recent until claimed.
// Claiming is not a flag change: it takes no modseq and wakes no watcher.
type RecentStore interface {
	// ClaimRecent raises mailbox id's floor to upTo if it is lower and
	// returns the floor it had: the messages with UIDs in [prev, upTo) are
	// recent for the caller alone. Atomic against other claims. An upTo
	// at or below the floor (0, for a read-only session) changes nothing
	// and returns the floor.
	ClaimRecent(ctx context.Context, id MailboxID, upTo UID) (prev UID, err error)
	// RecentCount returns how many messages of the mailbox are at or above
	// its floor: those no session has claimed (STATUS RECENT).
	RecentCount(ctx context.Context, id MailboxID) (uint32, error)
}

// Blob is a message's bytes on disk.
type Blob interface {
	io.ReaderAt
	io.ReadSeekCloser
	Size() int64
}

// NewObjectID returns a fresh RFC 8474 object id (EMAILID, THREADID,
// MAILBOXID): a prefix letter and 24 random hex digits.
func NewObjectID(prefix byte) string {
	var b [12]byte
	rand.Read(b[:])
	return string(prefix) + hex.EncodeToString(b[:])
}
