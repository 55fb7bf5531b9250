package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Stats counts what one sync moved, in both directions.
type Stats struct {
	Users      int
	Mailboxes  int   // mailboxes that had something to exchange
	AccountOps int   // mailbox and subscription changes applied
	Appends    int   // messages added (to either side)
	Bodies     int   // message bodies sent (the receiver lacked them)
	BodyBytes  int64 // their size
	// StreamedBodies are the bodies among them that travelled in chunks
	// (larger than 1 MiB, stream.go).
	StreamedBodies int
	// Derived are the bodies among them the receiver did not parse,
	// keeping what the sender had derived from them (package derived).
	Derived int
	// Compressed are the bodies among them that crossed compressed as
	// their sender's store kept them (package bodypack).
	Compressed int
	Flags      int // flag updates applied
	Expunges   int // UIDs expunged by sync
	Clashes    int // messages moved to fresh UIDs after a UID clash
	Metadata   int // RFC 5464 entries sent (mailbox and server)
	Logins     int // account records (logins) applied
	Quotas     int // quota overrides applied
	Sharing    int // ACL entries and access keys applied
}

func (s *Stats) add(o Stats) {
	s.Users += o.Users
	s.Mailboxes += o.Mailboxes
	s.AccountOps += o.AccountOps
	s.Appends += o.Appends
	s.Bodies += o.Bodies
	s.BodyBytes += o.BodyBytes
	s.StreamedBodies += o.StreamedBodies
	s.Derived += o.Derived
	s.Compressed += o.Compressed
	s.Flags += o.Flags
	s.Expunges += o.Expunges
	s.Clashes += o.Clashes
	s.Metadata += o.Metadata
	s.Logins += o.Logins
	s.Quotas += o.Quotas
	s.Sharing += o.Sharing
}

// Options tune a sync.
type Options struct {
	// Users limits the sync to these users; empty means every user either
	// side holds.
	Users []string
	// BatchMessages and BatchBytes bound one transaction of appended
	// messages (defaults 500 and 16 MiB).
	BatchMessages int
	BatchBytes    int64
	Logger        *slog.Logger
}

func (o Options) batchMessages() int {
	if o.BatchMessages > 0 {
		return o.BatchMessages
	}
	return 500
}

func (o Options) batchBytes() int64 {
	if o.BatchBytes > 0 {
		return o.BatchBytes
	}
	return 16 << 20
}

// Sync brings two replicas to the same state for every user (or
// opts.Users), in both directions. It is safe to run while both sides
// serve clients: a change made during the sync is left for the next one.
func Sync(ctx context.Context, a, b Side, opts Options) (Stats, error) {
	if a.Node() == b.Node() {
		return Stats{}, fmt.Errorf("replica: both sides are node %s", a.Node())
	}
	var total Stats
	// Logins first, so a user's login exists wherever its mail arrives.
	st, err := SyncLogins(ctx, a, b, opts)
	total.add(st)
	if err != nil {
		return total, fmt.Errorf("accounts: %w", err)
	}
	n, err := SyncQuotas(ctx, a, b, opts.Users)
	total.Quotas = n
	if err != nil {
		return total, fmt.Errorf("quota settings: %w", err)
	}
	users := opts.Users
	if len(users) == 0 {
		ua, err := a.Users(ctx)
		if err != nil {
			return total, err
		}
		ub, err := b.Users(ctx)
		if err != nil {
			return total, err
		}
		users = append(ua, ub...)
		slices.Sort(users)
		users = slices.Compact(users)
	}
	for _, user := range users {
		st, err := SyncUser(ctx, a, b, user, opts)
		total.add(st)
		if err != nil {
			return total, fmt.Errorf("user %s: %w", user, err)
		}
	}
	return total, nil
}

// SyncUser syncs one user: the account level first (mailboxes matched by
// replicated id, subscriptions), then every mailbox both sides hold.
func SyncUser(ctx context.Context, a, b Side, user string, opts Options) (Stats, error) {
	first, second := a, b
	if b.Node() < a.Node() {
		first, second = b, a
	}
	unlock1, err := first.Lock(ctx, user)
	if err != nil {
		return Stats{}, err
	}
	defer unlock1()
	unlock2, err := second.Lock(ctx, user)
	if err != nil {
		return Stats{}, err
	}
	defer unlock2()
	// A user deleted on either side (an account tombstone) is not
	// synced: its mail would come back from a replica that still held it.
	ua, err := a.Open(ctx, user, true)
	if errors.Is(err, ErrUserDeleted) {
		return Stats{}, nil
	} else if err != nil {
		return Stats{}, err
	}
	defer ua.Close()
	ub, err := b.Open(ctx, user, true)
	if errors.Is(err, ErrUserDeleted) {
		return Stats{}, nil
	} else if err != nil {
		return Stats{}, err
	}
	defer ub.Close()
	p := &pair{a: ua, b: ub, nodeA: a.Node(), nodeB: b.Node(), opts: opts, stats: Stats{Users: 1}}
	for attempt := 0; ; attempt++ {
		// A client's write between reading the account states and
		// applying them can make an operation refused (an INBOX to adopt
		// got a message meanwhile: ErrCannot); reading again decides
		// with the new state. Without this the whole sync failed and the
		// pusher waited for its retry.
		err := p.syncAccount(ctx)
		if err == nil {
			break
		}
		if attempt == 2 || !errors.Is(err, store.ErrCannot) {
			return p.stats, fmt.Errorf("account: %w", err)
		}
		p.log().Debug("replication: account level retried", "user", user, "err", err)
	}
	if err := p.syncServerMetadata(ctx); err != nil {
		return p.stats, fmt.Errorf("server metadata: %w", err)
	}
	stA, err := ua.AccountState(ctx)
	if err != nil {
		return p.stats, err
	}
	stB, err := ub.AccountState(ctx)
	if err != nil {
		return p.stats, err
	}
	p.seenA, p.seenB = deletedSeenOf(stA), deletedSeenOf(stB)
	onB := make(map[string]bool)
	for _, m := range stB.Mailboxes {
		onB[m.GUID] = true
	}
	onBoth := make(map[string]bool)
	for _, m := range stA.Mailboxes {
		if onB[m.GUID] {
			onBoth[m.GUID] = true
		}
	}
	if err := p.syncSharing(ctx, onBoth); err != nil {
		return p.stats, fmt.Errorf("ACLs and access keys: %w", err)
	}
	for _, m := range stA.Mailboxes {
		if !onB[m.GUID] {
			continue // changed under us; the next sync takes it
		}
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			// A client's write between reading and applying makes the
			// round fail (a used UID) or apply partly; another round
			// picks up from the recorded state.
			if err = p.syncMailbox(ctx, m.GUID); err == nil || !errors.Is(err, store.ErrInvalidUID) {
				break
			}
		}
		if err != nil && !errors.Is(err, store.ErrNoMailbox) {
			return p.stats, fmt.Errorf("mailbox %q: %w", m.Name, err)
		}
	}
	return p.stats, nil
}

// pair is one user's two sides during a sync. "A" and "B" are symmetric:
// every rule treats them alike, with deterministic tie-breaks that do not
// depend on which side started the sync.
type pair struct {
	a, b         User
	nodeA, nodeB string
	opts         Options
	stats        Stats
	// seenA and seenB are, per mailbox GUID, what each side's tombstone
	// of a mailbox it deleted and holds again saw (deletes.go).
	seenA, seenB map[string][]string
	// noDerived is set once a side turned out too old to hand out
	// derived data (pair.derived).
	noDerived atomic.Bool
	// noPacked is set once a side turned out too old to hand out packed
	// bodies (PackedBodies).
	noPacked atomic.Bool
}

func (p *pair) log() *slog.Logger {
	if p.opts.Logger != nil {
		return p.opts.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// syncServerMetadata settles the user's RFC 5464 server entries, compared
// whole (they are few) by the rule of mergeMetadata. A side whose store
// keeps no metadata, or a peer too old to have the call, is left out.
func (p *pair) syncServerMetadata(ctx context.Context) error {
	a, b := &side{u: p.a}, &side{u: p.b}
	for _, s := range []*side{a, b} {
		var err error
		s.ch.Metadata, err = s.u.ServerMetadata(ctx)
		if errors.Is(err, ErrNoMetadata) || unsupported(err) {
			return nil
		} else if err != nil {
			return err
		}
	}
	mergeMetadata(a, b)
	for _, s := range []*side{a, b} {
		if len(s.batch.Metadata) == 0 {
			continue
		}
		if _, err := s.u.Apply(ctx, "", Batch{Metadata: s.batch.Metadata}); err != nil {
			return err
		}
		p.stats.Metadata += len(s.batch.Metadata)
	}
	return nil
}
