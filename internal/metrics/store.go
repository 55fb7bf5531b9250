package metrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// WrapStore returns st with every Account call timed under its operation
// name ("append", "set_flags", ...). The hub, users and blobs are the
// wrapped store's own; only the time around each call is added.
func (m *Metrics) WrapStore(st store.Store) store.Store { return &timedStore{Store: st, m: m} }

type timedStore struct {
	store.Store
	m *Metrics
}

func (s *timedStore) Open(ctx context.Context, user string) (store.Account, error) {
	start := time.Now()
	a, err := s.Store.Open(ctx, user)
	counted := err
	if errors.Is(err, store.ErrNoUser) {
		counted = nil // an answer (LMTP's unknown recipient), not a failure
	}
	s.m.timeStore("open", start, &counted)
	if err != nil {
		return nil, err
	}
	return &timedAccount{a: a, m: s.m}, nil
}

// Ping passes the wrapped store's health check through, so wrapping does
// not hide it.
func (s *timedStore) Ping(ctx context.Context) error {
	if p, ok := s.Store.(store.Pinger); ok {
		return p.Ping(ctx)
	}
	_, err := s.Store.Users(ctx)
	return err
}

// timeStore records one call; errp, when not nil, points at the call's
// error so failures are counted too.
func (m *Metrics) timeStore(op string, start time.Time, errp *error) {
	m.storeSeconds.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if errp != nil && *errp != nil {
		m.storeErrors.WithLabelValues(op).Inc()
	}
}

// timedAccount times each method of the account it wraps.
type timedAccount struct {
	a store.Account
	m *Metrics
}

func (t *timedAccount) User() string { return t.a.User() }
func (t *timedAccount) Close() error { return t.a.Close() }

// Revoked forwards store.Revocable.
func (t *timedAccount) Revoked() bool { return store.IsRevoked(t.a) }

func (t *timedAccount) CreateMailbox(ctx context.Context, name string, opts store.CreateOptions) (_ store.MailboxInfo, err error) {
	defer t.m.timeStore("create_mailbox", time.Now(), &err)
	return t.a.CreateMailbox(ctx, name, opts)
}

func (t *timedAccount) DeleteMailbox(ctx context.Context, name string) (err error) {
	defer t.m.timeStore("delete_mailbox", time.Now(), &err)
	return t.a.DeleteMailbox(ctx, name)
}

func (t *timedAccount) RenameMailbox(ctx context.Context, oldName, newName string) (err error) {
	defer t.m.timeStore("rename_mailbox", time.Now(), &err)
	return t.a.RenameMailbox(ctx, oldName, newName)
}

func (t *timedAccount) Mailboxes(ctx context.Context) (_ []store.MailboxInfo, err error) {
	defer t.m.timeStore("mailboxes", time.Now(), &err)
	return t.a.Mailboxes(ctx)
}

func (t *timedAccount) Mailbox(ctx context.Context, name string) (_ store.MailboxInfo, err error) {
	defer t.m.timeStore("mailbox", time.Now(), nil) // ErrNoMailbox is an answer, not a failure
	return t.a.Mailbox(ctx, name)
}

func (t *timedAccount) SetSubscribed(ctx context.Context, name string, subscribed bool) (err error) {
	defer t.m.timeStore("set_subscribed", time.Now(), &err)
	return t.a.SetSubscribed(ctx, name, subscribed)
}

func (t *timedAccount) Subscriptions(ctx context.Context) (_ []string, err error) {
	defer t.m.timeStore("subscriptions", time.Now(), &err)
	return t.a.Subscriptions(ctx)
}

func (t *timedAccount) Status(ctx context.Context, id store.MailboxID) (_ store.MailboxStatus, err error) {
	defer t.m.timeStore("status", time.Now(), &err)
	return t.a.Status(ctx, id)
}

func (t *timedAccount) Append(ctx context.Context, id store.MailboxID, msgs []store.NewMessage) (_ store.AppendResult, err error) {
	defer t.m.timeStore("append", time.Now(), &err)
	return t.a.Append(ctx, id, msgs)
}

// AppendStream passes store.StreamAppender through (store.AppendStream
// reads every message first for an account without it), timed as an
// append.
func (t *timedAccount) AppendStream(ctx context.Context, id store.MailboxID, next store.MessageSource) (_ store.AppendResult, err error) {
	defer t.m.timeStore("append", time.Now(), &err)
	return store.AppendStream(ctx, t.a, id, next)
}

func (t *timedAccount) SetFlags(ctx context.Context, id store.MailboxID, uids store.UIDSet, op store.FlagOp, flags store.Flags, unchangedSince store.ModSeq) (_ store.FlagResult, err error) {
	defer t.m.timeStore("set_flags", time.Now(), &err)
	return t.a.SetFlags(ctx, id, uids, op, flags, unchangedSince)
}

func (t *timedAccount) Expunge(ctx context.Context, id store.MailboxID, uids store.UIDSet) (_ store.ExpungeResult, err error) {
	defer t.m.timeStore("expunge", time.Now(), &err)
	return t.a.Expunge(ctx, id, uids)
}

func (t *timedAccount) ExpungeDeleted(ctx context.Context, id store.MailboxID, within store.UIDSet) (_ store.ExpungeResult, err error) {
	defer t.m.timeStore("expunge", time.Now(), &err)
	return t.a.ExpungeDeleted(ctx, id, within)
}

func (t *timedAccount) Copy(ctx context.Context, src, dst store.MailboxID, uids store.UIDSet) (_ store.CopyResult, err error) {
	defer t.m.timeStore("copy", time.Now(), &err)
	return t.a.Copy(ctx, src, dst, uids)
}

func (t *timedAccount) Move(ctx context.Context, src, dst store.MailboxID, uids store.UIDSet) (_ store.CopyResult, err error) {
	defer t.m.timeStore("move", time.Now(), &err)
	return t.a.Move(ctx, src, dst, uids)
}

func (t *timedAccount) Snapshot(ctx context.Context, id store.MailboxID) (_ store.Snapshot, err error) {
	defer t.m.timeStore("snapshot", time.Now(), &err)
	return t.a.Snapshot(ctx, id)
}

func (t *timedAccount) ChangesSince(ctx context.Context, id store.MailboxID, since store.ModSeq) (_ store.Changes, err error) {
	defer t.m.timeStore("changes_since", time.Now(), &err)
	return t.a.ChangesSince(ctx, id, since)
}

// Messages is timed as a whole, including the caller's fn, which is
// usually writing FETCH responses: the figure is the time the store's read
// transaction stays open.
func (t *timedAccount) Messages(ctx context.Context, id store.MailboxID, uids store.UIDSet, fn func(*store.MessageData) error) (err error) {
	defer t.m.timeStore("messages", time.Now(), &err)
	return t.a.Messages(ctx, id, uids, fn)
}

// ReadMessages is timed like Messages.
func (t *timedAccount) ReadMessages(ctx context.Context, id store.MailboxID, uids store.UIDSet, fields store.Fields, fn func(*store.MessageData) error) (err error) {
	defer t.m.timeStore("read_messages", time.Now(), &err)
	return t.a.ReadMessages(ctx, id, uids, fields, fn)
}

func (t *timedAccount) OpenBlob(ctx context.Context, blobID string) (_ store.Blob, err error) {
	defer t.m.timeStore("open_blob", time.Now(), &err)
	return t.a.OpenBlob(ctx, blobID)
}

func (t *timedAccount) PruneTombstones(ctx context.Context, id store.MailboxID, before store.ModSeq) (err error) {
	defer t.m.timeStore("prune_tombstones", time.Now(), &err)
	return t.a.PruneTombstones(ctx, id, before)
}

func (t *timedAccount) Usage(ctx context.Context) (_ store.Usage, err error) {
	defer t.m.timeStore("usage", time.Now(), &err)
	return t.a.Usage(ctx)
}

// Shared passes on whether the wrapped store is written by other
// processes too (store.Shared), which the open-mailbox cache must know.
func (s *timedStore) Shared() bool { return store.IsShared(s.Store) }

// OpenReplica passes the store's Replica through: migration and
// replication write through it, and the wrapper must not hide it. Only
// opening it is timed.
func (s *timedStore) OpenReplica(ctx context.Context, user string) (_ store.Replica, err error) {
	defer s.m.timeStore("open_replica", time.Now(), &err)
	return s.Store.OpenReplica(ctx, user)
}

var _ store.RecentStore = (*timedAccount)(nil)

// ClaimRecent passes store.RecentStore through. A wrapped account without
// \Recent state answers as if every message had been claimed.
func (t *timedAccount) ClaimRecent(ctx context.Context, id store.MailboxID, upTo store.UID) (_ store.UID, err error) {
	rs, ok := t.a.(store.RecentStore)
	if !ok {
		return store.MaxUID, nil
	}
	defer t.m.timeStore("claim_recent", time.Now(), &err)
	return rs.ClaimRecent(ctx, id, upTo)
}

// RecentCount passes store.RecentStore through (0 without it).
func (t *timedAccount) RecentCount(ctx context.Context, id store.MailboxID) (_ uint32, err error) {
	rs, ok := t.a.(store.RecentStore)
	if !ok {
		return 0, nil
	}
	defer t.m.timeStore("recent_count", time.Now(), &err)
	return rs.RecentCount(ctx, id)
}

// Replace passes store.Replacer through; a wrapped account without it
// cannot replace.
func (t *timedAccount) Replace(ctx context.Context, src store.MailboxID, uid store.UID, dst store.MailboxID, msg store.NewMessage) (_ store.ReplaceResult, err error) {
	r, ok := t.a.(store.Replacer)
	if !ok {
		return store.ReplaceResult{}, fmt.Errorf("replace: %w", store.ErrCannot)
	}
	defer t.m.timeStore("replace", time.Now(), &err)
	return r.Replace(ctx, src, uid, dst, msg)
}

// CreateDefaults passes store.DefaultCreator through; a wrapped account
// without it creates nothing.
func (t *timedAccount) CreateDefaults(ctx context.Context, defs []store.DefaultMailbox) (_ []store.MailboxInfo, err error) {
	dc, ok := t.a.(store.DefaultCreator)
	if !ok {
		return nil, nil
	}
	defer t.m.timeStore("create_defaults", time.Now(), &err)
	return dc.CreateDefaults(ctx, defs)
}

// TryLead passes store.Leader through; over a store that is not shared,
// this process is the only one and always leads.
func (s *timedStore) TryLead(ctx context.Context, job string) (func(), bool, error) {
	if l, ok := s.Store.(store.Leader); ok {
		return l.TryLead(ctx, job)
	}
	return func() {}, true, nil
}

var _ store.TextSearcher = (*timedAccount)(nil)

// SearchText passes store.TextSearcher through; a wrapped account without
// a text index answers not OK, so SEARCH scans.
func (t *timedAccount) SearchText(ctx context.Context, id store.MailboxID, field store.TextField, needle string, within store.UIDSet) (_ store.TextHits, err error) {
	defer t.m.timeStore("search_text", time.Now(), &err)
	return store.SearchText(ctx, t.a, id, field, needle, within)

}

var _ store.AccessKeyStore = (*timedStore)(nil)

// OpenAccessKeys passes the store's URLAUTH keys through
// (store.AccessKeyStore); a store without them answers ErrCannot.
func (s *timedStore) OpenAccessKeys(ctx context.Context, user string) (_ store.AccessKeys, err error) {
	ks, ok := s.Store.(store.AccessKeyStore)
	if !ok {
		return nil, fmt.Errorf("access keys: %w", store.ErrCannot)
	}
	defer s.m.timeStore("open_access_keys", time.Now(), &err)
	return ks.OpenAccessKeys(ctx, user)
}

var _ store.MetadataStore = (*timedStore)(nil)

// OpenMetadata passes the store's metadata through (store.MetadataStore);
// a store without it answers ErrCannot.
func (s *timedStore) OpenMetadata(ctx context.Context, user string) (_ store.Metadata, err error) {
	ms, ok := s.Store.(store.MetadataStore)
	if !ok {
		return nil, fmt.Errorf("metadata: %w", store.ErrCannot)
	}
	defer s.m.timeStore("open_metadata", time.Now(), &err)
	return ms.OpenMetadata(ctx, user)
}

var _ store.ACLStore = (*timedStore)(nil)

// OpenACL passes the store's access control lists through
// (store.ACLStore); a store without them answers ErrCannot.
func (s *timedStore) OpenACL(ctx context.Context, user string) (_ store.ACL, err error) {
	as, ok := s.Store.(store.ACLStore)
	if !ok {
		return nil, fmt.Errorf("acl: %w", store.ErrCannot)
	}
	defer s.m.timeStore("open_acl", time.Now(), &err)
	return as.OpenACL(ctx, user)
}

// Grants passes through, timed.
func (s *timedStore) Grants(ctx context.Context, identifiers []string) (_ []store.ACLGrant, err error) {
	as, ok := s.Store.(store.ACLStore)
	if !ok {
		return nil, fmt.Errorf("acl: %w", store.ErrCannot)
	}
	defer s.m.timeStore("acl_grants", time.Now(), &err)
	return as.Grants(ctx, identifiers)
}

var (
	_ store.DeferredSync = (*timedStore)(nil)
	_ store.KeysReader   = (*timedAccount)(nil)
)

// MakeDurable passes store.DeferredSync through, so that sessions over a
// measured store still share their syncs.
func (s *timedStore) MakeDurable(ctx context.Context) (err error) {
	ds, ok := s.Store.(store.DeferredSync)
	if !ok {
		return nil
	}
	defer s.m.timeStore("make_durable", time.Now(), &err)
	return ds.MakeDurable(ctx)
}

// MessageKeys passes store.KeysReader through; a wrapped account without
// stored keys answers ErrCannot, and the caller computes them.
func (t *timedAccount) MessageKeys(ctx context.Context, id store.MailboxID, uids store.UIDSet, fn func(*store.MessageKeys) error) (err error) {
	kr, ok := t.a.(store.KeysReader)
	if !ok {
		return fmt.Errorf("message keys: %w", store.ErrCannot)
	}
	defer t.m.timeStore("message_keys", time.Now(), &err)
	return kr.MessageKeys(ctx, id, uids, fn)
}
