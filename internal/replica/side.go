package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/bodypack"
	"github.com/tidemark-mail/tidemark/internal/quota"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Side is one replica as the sync engine sees it: the local store, or a
// peer reached over the network (Client). Both offer the same calls, so
// the engine runs unchanged whichever side is remote.
type Side interface {
	// Node is the replica's stable id, under which peers record their
	// sync state with it.
	Node() string
	// Users lists the users whose mail the replica holds.
	Users(ctx context.Context) ([]string, error)
	// Open returns a user's mail, creating an empty store for the user
	// when create is set and there is none.
	Open(ctx context.Context, user string, create bool) (User, error)
	// Lock holds off every other sync of the user on this replica until
	// unlock is called (or, for a peer, the connection ends). A sync
	// locks both sides, the smaller node id first, so two syncs of one
	// pair (each server pushing, a one-shot run) take turns and never
	// deadlock.
	Lock(ctx context.Context, user string) (unlock func(), err error)
}

// User is one user's mail on one replica; mailboxes are named by their
// replicated id (GUID).
type User interface {
	AccountState(ctx context.Context) (store.AccountState, error)
	PeerStates(ctx context.Context, peer string) (map[string]store.PeerState, error)
	ApplyAccount(ctx context.Context, ops []store.AccountOp, peer string, state *store.PeerState) (store.AccountApplyResult, error)
	// RenameMailbox is the IMAP rename. Peers of earlier versions moved a
	// clashing INBOX's messages aside with it; this engine no longer
	// calls it (moveInboxAside), but serves it to them.
	RenameMailbox(ctx context.Context, oldName, newName string) error
	// Changes is one read of the mailbox (store.Replica.ReadRound):
	// ChangesSince, the tombstones with their modseqs, and the messages
	// of the UIDs in play and of also that exist.
	Changes(ctx context.Context, guid string, since store.ModSeq, also store.UIDSet) (MailboxChanges, error)
	// Lookup returns the messages of uids that exist, ascending by UID.
	Lookup(ctx context.Context, guid string, uids store.UIDSet) ([]Message, error)
	FlagsAt(ctx context.Context, guid string, uids store.UIDSet, at store.ModSeq) (map[store.UID]store.Flags, error)
	// Find returns the UIDs of the mailbox's messages with each content
	// hash.
	Find(ctx context.Context, guid string, blobIDs []string) (map[string][]store.UID, error)
	HasBodies(ctx context.Context, blobIDs []string) ([]bool, error)
	// Bodies returns the bytes of each content hash.
	Bodies(ctx context.Context, blobIDs []string) ([][]byte, error)
	// PackedBodies returns each content in the packed form of package
	// bodypack, as an embedded store keeps it (Append.Packed).
	PackedBodies(ctx context.Context, blobIDs []string) ([][]byte, error)
	// TakesPacked reports whether Apply takes Append.Packed: false for a
	// peer of an earlier version, which would take such an append for
	// one without a body.
	TakesPacked() bool
	// Derived returns, for each content hash, what the store derived from
	// its bytes, sealed (package derived): sent with a body, it spares the
	// receiver the parse. nil where the store has none to give.
	Derived(ctx context.Context, blobIDs []string) ([][]byte, error)
	// BodyChunk returns up to n bytes of a content from offset (fewer at
	// its end); StageBody appends bytes at offset to a body staged for the
	// next Apply (Append.Staged; offset 0 starts it). See stream.go.
	BodyChunk(ctx context.Context, blobID string, offset int64, n int) ([]byte, error)
	StageBody(ctx context.Context, name string, offset int64, data []byte) error
	// Apply applies b to the mailbox; with guid "" b carries server
	// metadata entries only (store.Batch.Metadata).
	Apply(ctx context.Context, guid string, b Batch) (store.ApplyResult, error)
	// ServerMetadata returns every RFC 5464 server entry ever set, deleted
	// ones with a nil Value (ErrNoMetadata when the store keeps none).
	ServerMetadata(ctx context.Context) ([]store.MetadataEntry, error)
	SetPeerState(ctx context.Context, peer, guid string, ps store.PeerState) error
	ForgetPeer(ctx context.Context, peer string) error
	// Sharing returns the user's ACL entries and access keys, removed
	// ones too (ErrNoSharing when the store replicates none); ApplySharing
	// applies those that win over the user's, returning how many did.
	Sharing(ctx context.Context) (Sharing, error)
	ApplySharing(ctx context.Context, s Sharing) (int, error)
	Close() error
}

// MailboxChanges is what changed in a mailbox since a modseq, as one
// snapshot.
type MailboxChanges struct {
	store.Changes
	Tombstones []store.Expunged
	Messages   []Message // ascending by UID
	// Metadata are the mailbox's RFC 5464 entries changed since, deleted
	// ones with a nil Value.
	Metadata []store.MetadataEntry
}

// inPlay is store.Round.InPlay.
func (c MailboxChanges) inPlay() store.UIDSet {
	return store.Round{Changes: c.Changes, Tombstones: c.Tombstones}.InPlay()
}

// Message is what the engine knows of a message: its state and the
// identity it keeps on every replica.
type Message struct {
	UID          store.UID
	ModSeq       store.ModSeq
	Flags        store.Flags
	BlobID       string
	Size         int64
	InternalDate time.Time
	SaveDate     time.Time
	EmailID      string
	ThreadID     string
	// Stamps are the stamps of the changes that gave the flags their
	// values (store.FlagStamps); a peer of an earlier version sends none.
	Stamps store.FlagStamps
}

// Append is a message to add, with its bytes when the receiver lacks
// them: in Body, or packed (package bodypack) in Packed, or, for a large
// one, staged on the receiver under the name Staged (stream.go).
type Append struct {
	Message
	Body   []byte
	Packed []byte
	Staged string
	// Derived is what the sender derived from Body (User.Derived); the
	// receiver's store keeps it only when it was sealed for those bytes
	// in its own formats, and parses the body otherwise.
	Derived []byte
}

// Batch is store.ApplyBatch in a form that crosses the network.
type Batch struct {
	Appends        []Append
	Flags          []store.MessageState
	UnchangedSince store.ModSeq
	Expunges       []store.Expunged
	Metadata       []store.MetadataEntry
	UIDNext        store.UID
	HighestModSeq  store.ModSeq
	KeepHistory    bool
	Peer           string
	State          *store.PeerState
	// Stamps are the flag stamps of the messages of Flags (those of
	// Appends travel in their Message).
	Stamps map[store.UID]store.FlagStamps
}

// Local is a Side on a store in this process.
type Local struct {
	Store  store.Store
	NodeID string
	// Accounts, when set, are the logins replicated with the mail
	// (logins.go); nil leaves them out.
	Accounts *auth.Accounts
	// Quotas, when set, hold the SETQUOTA overrides replicated with the
	// mail; nil leaves them out.
	Quotas *quota.Manager

	// StageDir holds the large bodies a peer sends until they are
	// applied (unlinked files; "" is the system's temporary directory).
	StageDir string

	mu    sync.Mutex
	locks map[string]chan struct{} // per user, a one-slot semaphore; guarded by mu
}

// Lock takes the user's sync lock, waiting for it as long as ctx allows.
func (l *Local) Lock(ctx context.Context, user string) (func(), error) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = make(map[string]chan struct{})
	}
	c := l.locks[user]
	if c == nil {
		c = make(chan struct{}, 1)
		l.locks[user] = c
	}
	l.mu.Unlock()
	select {
	case c <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-c }) }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Node returns the replica's id.
func (l *Local) Node() string { return l.NodeID }

// Users lists the store's users.
func (l *Local) Users(ctx context.Context) ([]string, error) { return l.Store.Users(ctx) }

// ErrUserDeleted is returned by Open for a user whose login was deleted
// (an account tombstone): its mail is not replicated, in either
// direction, so a deleted user is not brought back by a replica that
// still held its mail.
var ErrUserDeleted = errors.New("replication: user deleted")

// Open opens (or creates) a user's store.
func (l *Local) Open(ctx context.Context, user string, create bool) (User, error) {
	if l.Accounts != nil {
		if gone, err := l.Accounts.Deleted(ctx, user); err != nil {
			return nil, err
		} else if gone {
			return nil, ErrUserDeleted
		}
	}
	a, err := l.Store.Open(ctx, user)
	if errors.Is(err, store.ErrNoUser) && create {
		if err := l.Store.CreateUser(ctx, user); err != nil && !errors.Is(err, store.ErrUserExists) {
			return nil, err
		}
		a, err = l.Store.Open(ctx, user)
	}
	if err != nil {
		return nil, err
	}
	r, err := l.Store.OpenReplica(ctx, user)
	if err != nil {
		a.Close()
		return nil, err
	}
	lu := &localUser{st: l.Store, a: a, r: r, staged: &stagedBodies{dir: l.StageDir}}
	if ms, ok := l.Store.(store.MetadataStore); ok {
		if lu.md, err = ms.OpenMetadata(ctx, user); err != nil {
			lu.Close()
			return nil, err
		}
	}
	return lu, nil
}

// localUser is a User on a store's Account, Replica and (when the store
// keeps metadata) Metadata handles.
type localUser struct {
	st store.Store
	a  store.Account
	r  store.Replica
	md store.Metadata // nil: the store keeps no metadata
	// staged are the bodies a peer sent in chunks for the next Apply.
	staged *stagedBodies
}

func (u *localUser) Close() error {
	u.staged.closeAll()
	err := u.r.Close()
	if err2 := u.a.Close(); err == nil {
		err = err2
	}
	if u.md != nil {
		if err2 := u.md.Close(); err == nil {
			err = err2
		}
	}
	return err
}

func (u *localUser) AccountState(ctx context.Context) (store.AccountState, error) {
	return u.r.AccountState(ctx)
}

func (u *localUser) PeerStates(ctx context.Context, peer string) (map[string]store.PeerState, error) {
	return u.r.PeerStates(ctx, peer)
}

func (u *localUser) ApplyAccount(ctx context.Context, ops []store.AccountOp, peer string, state *store.PeerState) (store.AccountApplyResult, error) {
	return u.r.ApplyAccount(ctx, ops, peer, state)
}

func (u *localUser) RenameMailbox(ctx context.Context, oldName, newName string) error {
	return u.a.RenameMailbox(ctx, oldName, newName)
}

func (u *localUser) mailbox(ctx context.Context, guid string) (store.MailboxID, error) {
	m, err := u.r.MailboxByGUID(ctx, guid)
	return m.ID, err
}

func (u *localUser) Changes(ctx context.Context, guid string, since store.ModSeq, also store.UIDSet) (MailboxChanges, error) {
	id, err := u.mailbox(ctx, guid)
	if err != nil {
		return MailboxChanges{}, err
	}
	rd, err := u.r.ReadRound(ctx, id, since, also)
	if err != nil {
		return MailboxChanges{}, err
	}
	out := MailboxChanges{Changes: rd.Changes, Tombstones: rd.Tombstones, Metadata: rd.Metadata,
		Messages: make([]Message, 0, len(rd.Messages))}
	for _, m := range rd.Messages {
		msg := messageOf(m)
		msg.Stamps = rd.Stamps[m.UID]
		out.Messages = append(out.Messages, msg)
	}
	return out, nil
}

func messageOf(m *store.MessageData) Message {
	return Message{UID: m.UID, ModSeq: m.ModSeq, Flags: m.Flags, BlobID: m.BlobID, Size: m.Size,
		InternalDate: m.InternalDate, SaveDate: m.SaveDate, EmailID: m.EmailID, ThreadID: m.ThreadID}
}

func (u *localUser) Lookup(ctx context.Context, guid string, uids store.UIDSet) ([]Message, error) {
	if uids.Empty() {
		return nil, nil
	}
	id, err := u.mailbox(ctx, guid)
	if err != nil {
		return nil, err
	}
	var out []Message
	err = u.a.Messages(ctx, id, uids, func(m *store.MessageData) error {
		out = append(out, messageOf(m))
		return nil
	})
	return out, err
}

func (u *localUser) FlagsAt(ctx context.Context, guid string, uids store.UIDSet, at store.ModSeq) (map[store.UID]store.Flags, error) {
	id, err := u.mailbox(ctx, guid)
	if err != nil {
		return nil, err
	}
	return u.r.FlagsAt(ctx, id, uids, at)
}

func (u *localUser) HasBodies(ctx context.Context, blobIDs []string) ([]bool, error) {
	have, err := u.r.HasContent(ctx, blobIDs)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(blobIDs))
	for i, id := range blobIDs {
		out[i] = have[id]
	}
	return out, nil
}

func (u *localUser) Bodies(ctx context.Context, blobIDs []string) ([][]byte, error) {
	out := make([][]byte, len(blobIDs))
	for i, id := range blobIDs {
		b, err := u.a.OpenBlob(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("body %s: %w", id, err)
		}
		out[i], err = io.ReadAll(b)
		b.Close()
		if err != nil {
			return nil, fmt.Errorf("body %s: %w", id, err)
		}
	}
	return out, nil
}

func (u *localUser) PackedBodies(ctx context.Context, blobIDs []string) ([][]byte, error) {
	if pr, ok := u.r.(store.PackedBodyReader); ok {
		return pr.PackedBodies(ctx, blobIDs)
	}
	out, err := u.Bodies(ctx, blobIDs)
	for i := range out {
		out[i] = bodypack.Raw(out[i])
	}
	return out, err
}

// TakesPacked: a packed body is opened here and handed to the store as a
// reader of its bytes, so any store takes it.
func (u *localUser) TakesPacked() bool { return true }

func (u *localUser) Derived(ctx context.Context, blobIDs []string) ([][]byte, error) {
	if dr, ok := u.r.(store.DerivedReader); ok {
		return dr.Derived(ctx, blobIDs)
	}
	return make([][]byte, len(blobIDs)), nil
}

func (u *localUser) Apply(ctx context.Context, guid string, b Batch) (store.ApplyResult, error) {
	id := store.ServerMetadata
	if guid != "" {
		var err error
		if id, err = u.mailbox(ctx, guid); err != nil {
			return store.ApplyResult{}, err
		}
	}
	sb := store.Batch{Flags: b.Flags, UnchangedSince: b.UnchangedSince, Expunges: b.Expunges, Metadata: b.Metadata, UIDNext: b.UIDNext,
		HighestModSeq: b.HighestModSeq, KeepHistory: b.KeepHistory, Peer: b.Peer, Sync: b.State, Stamps: b.Stamps}
	for _, a := range b.Appends {
		if len(a.Stamps) > 0 {
			if sb.Stamps == nil {
				sb.Stamps = make(map[store.UID]store.FlagStamps)
			}
			sb.Stamps[a.UID] = a.Stamps
		}
		m := store.ReplicaMessage{UID: a.UID, ModSeq: a.ModSeq, Flags: a.Flags, InternalDate: a.InternalDate,
			SaveDate: a.SaveDate, EmailID: a.EmailID, ThreadID: a.ThreadID, ContentHash: a.BlobID}
		switch {
		case a.Packed != nil:
			// Opened (decompressed) here, so that every store reads the
			// bytes and checks their hash; an embedded store keeps the
			// packed form (sqlitestore.Replica.Apply).
			body, err := bodypack.Open(a.Packed)
			if err != nil {
				return store.ApplyResult{}, fmt.Errorf("body %s: %w: %w", a.BlobID, store.ErrContentMismatch, err)
			}
			m.Body, m.Derived = body, a.Derived
		case a.Body != nil:
			m.Body, m.Derived = bytes.NewReader(a.Body), a.Derived
		case a.Staged != "":
			f, err := u.staged.take(a.Staged)
			if err != nil {
				return store.ApplyResult{}, err
			}
			defer f.Close()
			m.Body = f
		}
		sb.Append = append(sb.Append, m)
	}
	return u.r.Apply(ctx, id, sb)
}

// ErrNoMetadata is returned by ServerMetadata on a store that keeps no
// metadata.
var ErrNoMetadata = errors.New("replication: store keeps no metadata")

func (u *localUser) ServerMetadata(ctx context.Context) ([]store.MetadataEntry, error) {
	if u.md == nil {
		return nil, ErrNoMetadata
	}
	return u.md.MetadataChangedSince(ctx, store.ServerMetadata, 0)
}

func (u *localUser) SetPeerState(ctx context.Context, peer, guid string, ps store.PeerState) error {
	return u.r.SetPeerState(ctx, peer, guid, ps)
}

func (u *localUser) ForgetPeer(ctx context.Context, peer string) error {
	return u.r.ForgetPeer(ctx, peer)
}

func (u *localUser) Find(ctx context.Context, guid string, blobIDs []string) (map[string][]store.UID, error) {
	id, err := u.mailbox(ctx, guid)
	if err != nil {
		return nil, err
	}
	return u.r.FindContent(ctx, id, blobIDs)
}
