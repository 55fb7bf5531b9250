package replica

import (
	"context"
	"errors"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Access control lists (RFC 4314) and URLAUTH access keys (RFC 4467)
// replicate at the account level, after the mailboxes (whose replicated
// ids name them). Like logins they are few, so each sync compares them
// whole: each side reads every record, removals included, and receives
// those of the other's that win by store.ACLRecord.Beats or
// store.AccessKeyRecord.Beats (later stamp, then a deterministic
// tie-break). The store checks the rule again in its own transaction, so
// a change made here during the sync is never overwritten by an older
// one.

// Sharing is a user's ACL entries and access keys as they replicate.
type Sharing struct {
	ACL  []store.ACLRecord
	Keys []store.AccessKeyRecord
}

// ErrNoSharing is returned by a side whose store keeps no replicable ACLs
// or access keys; the sync then leaves them alone.
var ErrNoSharing = errors.New("replication: store replicates no ACLs")

// sharingHandles opens the user's ACL and access key handles, when the
// store replicates them.
func (u *localUser) sharingHandles(ctx context.Context) (store.ACLReplica, store.AccessKeyReplica, func(), error) {
	as, ok1 := u.st.(store.ACLStore)
	ks, ok2 := u.st.(store.AccessKeyStore)
	if !ok1 || !ok2 {
		return nil, nil, nil, ErrNoSharing
	}
	h, err := as.OpenACL(ctx, u.a.User())
	if err != nil {
		return nil, nil, nil, err
	}
	k, err := ks.OpenAccessKeys(ctx, u.a.User())
	if err != nil {
		h.Close()
		return nil, nil, nil, err
	}
	closeAll := func() { h.Close(); k.Close() }
	ar, ok1 := h.(store.ACLReplica)
	kr, ok2 := k.(store.AccessKeyReplica)
	if !ok1 || !ok2 {
		closeAll()
		return nil, nil, nil, ErrNoSharing
	}
	return ar, kr, closeAll, nil
}

// Sharing returns every ACL and access key record of the user.
func (u *localUser) Sharing(ctx context.Context) (Sharing, error) {
	ar, kr, done, err := u.sharingHandles(ctx)
	if err != nil {
		return Sharing{}, err
	}
	defer done()
	var s Sharing
	if s.ACL, err = ar.ACLRecords(ctx); err != nil {
		return Sharing{}, err
	}
	s.Keys, err = kr.AccessKeyRecords(ctx)
	return s, err
}

// ApplySharing applies the records that win over the user's, and wakes
// the sessions on their mailboxes (as SETACL does) so that they read
// their rights again.
func (u *localUser) ApplySharing(ctx context.Context, s Sharing) (int, error) {
	ar, kr, done, err := u.sharingHandles(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	n, err := ar.ApplyACLRecords(ctx, s.ACL)
	if err != nil {
		return n, err
	}
	nk, err := kr.ApplyAccessKeyRecords(ctx, s.Keys)
	if n > 0 {
		woken := map[string]bool{}
		for _, r := range s.ACL {
			if woken[r.Mailbox] {
				continue
			}
			woken[r.Mailbox] = true
			if m, err := u.r.MailboxByGUID(ctx, r.Mailbox); err == nil {
				u.st.Hub().Publish(u.a.User(), m.ID, 0)
			}
		}
	}
	return n + nk, err
}

// syncSharing settles the user's ACL entries and access keys. A side
// whose store keeps none, or a peer too old to have the calls, is left
// out. onBoth are the mailboxes both sides hold (by GUID): only their
// records are recorded as held in common (sharingpeers.go).
func (p *pair) syncSharing(ctx context.Context, onBoth map[string]bool) error {
	sa, err := p.a.Sharing(ctx)
	if errors.Is(err, ErrNoSharing) || unsupported(err) {
		return nil
	} else if err != nil {
		return err
	}
	sb, err := p.b.Sharing(ctx)
	if errors.Is(err, ErrNoSharing) || unsupported(err) {
		return nil
	} else if err != nil {
		return err
	}
	common, sides, record, err := p.sharingCommon(ctx)
	if err != nil {
		return err
	}
	toA, toB, both := settleSharing(sa, sb, common, onBoth)
	for _, x := range []struct {
		u  User
		in Sharing
	}{{p.a, toA}, {p.b, toB}} {
		if len(x.in.ACL) == 0 && len(x.in.Keys) == 0 {
			continue
		}
		n, err := x.u.ApplySharing(ctx, x.in)
		if err != nil {
			return err
		}
		p.stats.Sharing += n
	}
	if !record {
		return nil
	}
	for i, x := range []struct {
		u    User
		peer string
	}{{p.a, p.nodeB}, {p.b, p.nodeA}} {
		if sides[i].holds(recsOf(both)) {
			continue
		}
		if err := x.u.(sharingPeerUser).SetSharingPeer(ctx, x.peer, both); err != nil {
			return err
		}
	}
	return nil
}

// Sharing is User.Sharing.
func (v *Service) Sharing(a Args, r *Sharing) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		*r, err = u.Sharing(context.Background())
	}
	return err
}

// ApplySharing is User.ApplySharing.
func (v *Service) ApplySharing(a Args, r *int) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		if a.Sharing == nil {
			return fmt.Errorf("replication: no records")
		}
		*r, err = u.ApplySharing(context.Background(), *a.Sharing)
		if *r > 0 {
			v.applied(a.User)
		}
	}
	return err
}

func (u *remoteUser) Sharing(ctx context.Context) (Sharing, error) {
	var r Sharing
	return r, u.c.call(ctx, "Sharing", Args{User: u.user}, &r)
}

func (u *remoteUser) ApplySharing(ctx context.Context, s Sharing) (int, error) {
	var n int
	return n, u.c.call(ctx, "ApplySharing", Args{User: u.user, Sharing: &s}, &n)
}

// The ACLs and access keys of a replicating server's store pass through
// replica.Notify, which calls changed after each change so that it is
// pushed like the mail.

var _ store.ACLStore = (*notifyStore)(nil)

func (s *notifyStore) OpenACL(ctx context.Context, user string) (store.ACL, error) {
	as, ok := s.Store.(store.ACLStore)
	if !ok {
		return nil, fmt.Errorf("acl: %w", store.ErrCannot)
	}
	h, err := as.OpenACL(ctx, user)
	if err != nil {
		return nil, err
	}
	return &notifyACL{ACL: h, user: user, changed: s.changed}, nil
}

func (s *notifyStore) Grants(ctx context.Context, identifiers []string) ([]store.ACLGrant, error) {
	as, ok := s.Store.(store.ACLStore)
	if !ok {
		return nil, fmt.Errorf("acl: %w", store.ErrCannot)
	}
	return as.Grants(ctx, identifiers)
}

type notifyACL struct {
	store.ACL
	user    string
	changed func(string)
}

// Unwrap returns the store's handle: what does not change the lists
// (pruning their removal rows, store.SharingPeersOf) needs no notice.
func (h *notifyACL) Unwrap() store.ACL { return h.ACL }

func (h *notifyACL) SetACL(ctx context.Context, id store.MailboxID, identifier, rights string) error {
	err := h.ACL.SetACL(ctx, id, identifier, rights)
	if err == nil {
		h.changed(h.user)
	}
	return err
}

func (s *notifyStore) OpenAccessKeys(ctx context.Context, user string) (store.AccessKeys, error) {
	ks, ok := s.Store.(store.AccessKeyStore)
	if !ok {
		return nil, fmt.Errorf("access keys: %w", store.ErrCannot)
	}
	k, err := ks.OpenAccessKeys(ctx, user)
	if err != nil {
		return nil, err
	}
	return &notifyAccessKeys{AccessKeys: k, user: user, changed: s.changed}, nil
}

type notifyAccessKeys struct {
	store.AccessKeys
	user    string
	changed func(string)
}

// AccessKey calls changed when it made the mailbox's first key: a URL
// made with it must work on the peers too.
func (k *notifyAccessKeys) AccessKey(ctx context.Context, id store.MailboxID, create bool) ([]byte, error) {
	if create {
		if key, err := k.AccessKeys.AccessKey(ctx, id, false); err != nil || key != nil {
			return key, err
		}
	}
	key, err := k.AccessKeys.AccessKey(ctx, id, create)
	if err == nil && create {
		k.changed(k.user)
	}
	return key, err
}

func (k *notifyAccessKeys) ResetAccessKey(ctx context.Context, id store.MailboxID) error {
	err := k.AccessKeys.ResetAccessKey(ctx, id)
	if err == nil {
		k.changed(k.user)
	}
	return err
}

func (k *notifyAccessKeys) RemoveAccessKeys(ctx context.Context) error {
	err := k.AccessKeys.RemoveAccessKeys(ctx)
	if err == nil {
		k.changed(k.user)
	}
	return err
}
