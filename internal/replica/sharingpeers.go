package replica

import (
	"context"
	"errors"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Removal rows of ACL entries and access keys are pruned (store.
// SharingPeers.PruneSharing) once every peer holds them, so an exchange
// can meet an entry or key that one side has no row of at all although
// the other side's row of it was held by both when they last exchanged:
// the first side removed it and has pruned the removal since. Each side
// records, per peer, the records both held when their last exchange
// ended (the winner of each entry and key), and that record, on either
// side, is what tells it (docs/replication.md, "Pruning"). The rule is
// the one of the logins (loginprune.go).

// sharingPeerUser is a User that records what it held in common with
// each peer. A store or a peer without it keeps every removal row.
type sharingPeerUser interface {
	SharingPeer(ctx context.Context, peer string) (Sharing, bool, error)
	SetSharingPeer(ctx context.Context, peer string, s Sharing) error
}

// sharingPeers opens the user's handle that records what peers held.
func (u *localUser) sharingPeers(ctx context.Context) (store.SharingPeers, func(), error) {
	ar, _, done, err := u.sharingHandles(ctx)
	if err != nil {
		return nil, nil, err
	}
	sp, ok := store.SharingPeersOf(ar.(store.ACL))
	if !ok {
		done()
		return nil, nil, ErrNoSharing
	}
	return sp, done, nil
}

// SharingPeer returns the records recorded as held in common with peer.
func (u *localUser) SharingPeer(ctx context.Context, peer string) (Sharing, bool, error) {
	sp, done, err := u.sharingPeers(ctx)
	if err != nil {
		return Sharing{}, false, err
	}
	defer done()
	acl, keys, known, err := sp.SharingPeer(ctx, peer)
	return Sharing{ACL: acl, Keys: keys}, known, err
}

// SetSharingPeer records s as held in common with peer.
func (u *localUser) SetSharingPeer(ctx context.Context, peer string, s Sharing) error {
	sp, done, err := u.sharingPeers(ctx)
	if err != nil {
		return err
	}
	defer done()
	return sp.SetSharingPeer(ctx, peer, s.ACL, s.Keys)
}

// SharingPeerReply is SharingPeer's answer on the wire.
type SharingPeerReply struct {
	Sharing Sharing
	Known   bool
}

// SharingPeer is User.SharingPeer.
func (v *Service) SharingPeer(a Args, r *SharingPeerReply) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		su, ok := u.(sharingPeerUser)
		if !ok {
			return ErrNoSharing
		}
		r.Sharing, r.Known, err = su.SharingPeer(context.Background(), a.Peer)
	}
	return err
}

// SetSharingPeer is User.SetSharingPeer.
func (v *Service) SetSharingPeer(a Args, _ *struct{}) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		if a.Sharing == nil {
			return fmt.Errorf("replication: no records")
		}
		su, ok := u.(sharingPeerUser)
		if !ok {
			return ErrNoSharing
		}
		err = su.SetSharingPeer(context.Background(), a.Peer, *a.Sharing)
	}
	return err
}

func (u *remoteUser) SharingPeer(ctx context.Context, peer string) (Sharing, bool, error) {
	var r SharingPeerReply
	err := u.c.call(ctx, "SharingPeer", Args{User: u.user, Peer: peer}, &r)
	return r.Sharing, r.Known, err
}

func (u *remoteUser) SetSharingPeer(ctx context.Context, peer string, s Sharing) error {
	return u.c.call(ctx, "SetSharingPeer", Args{User: u.user, Peer: peer, Sharing: &s}, &struct{}{})
}

// sharingCommon reads what each side recorded as held in common with the
// other (by side, A first), and their union keyed by name; ok is false
// when either side cannot record it.
func (p *pair) sharingCommon(ctx context.Context) (common map[string]sharingRec, sides [2]recorded[sharingRec], ok bool, err error) {
	ua, okA := p.a.(sharingPeerUser)
	ub, okB := p.b.(sharingPeerUser)
	if !okA || !okB {
		return nil, sides, false, nil
	}
	common = make(map[string]sharingRec)
	for i, x := range []struct {
		u    sharingPeerUser
		peer string
	}{{ua, p.nodeB}, {ub, p.nodeA}} {
		s, known, err := x.u.SharingPeer(ctx, x.peer)
		if errors.Is(err, ErrNoSharing) || unsupported(err) {
			return nil, sides, false, nil
		} else if err != nil {
			return nil, sides, false, err
		}
		sides[i] = recorded[sharingRec]{known: known, recs: recsOf(s)}
		for _, r := range sides[i].recs {
			common[r.name()] = r
		}
	}
	return common, sides, true, nil
}

// sharingRec is an ACL entry or an access key as the settling sees it.
type sharingRec struct {
	acl *store.ACLRecord
	ak  *store.AccessKeyRecord
}

func recsOf(s Sharing) []sharingRec {
	out := make([]sharingRec, 0, len(s.ACL)+len(s.Keys))
	for i := range s.ACL {
		out = append(out, sharingRec{acl: &s.ACL[i]})
	}
	for i := range s.Keys {
		out = append(out, sharingRec{ak: &s.Keys[i]})
	}
	return out
}

func (r sharingRec) name() string {
	if r.acl != nil {
		return "a\x00" + r.acl.Mailbox + "\x00" + r.acl.Identifier
	}
	return "k\x00" + r.ak.Mailbox
}

func (r sharingRec) mailbox() string {
	if r.acl != nil {
		return r.acl.Mailbox
	}
	return r.ak.Mailbox
}

func (r sharingRec) stamp() uint64 {
	if r.acl != nil {
		return r.acl.Stamp
	}
	return r.ak.Stamp
}

func (r sharingRec) removed() bool {
	if r.acl != nil {
		return r.acl.Rights == ""
	}
	return len(r.ak.Key) == 0
}

func (r sharingRec) beats(o sharingRec) bool {
	if r.acl != nil {
		return r.acl.Beats(*o.acl)
	}
	return r.ak.Beats(*o.ak)
}

// removal is r's removal at r's stamp, which beats r (at equal stamps a
// removal wins, store.ACLRecord.Beats, store.AccessKeyRecord.Beats).
func (r sharingRec) removal() sharingRec {
	if r.acl != nil {
		return sharingRec{acl: &store.ACLRecord{Mailbox: r.acl.Mailbox, Identifier: r.acl.Identifier, Stamp: r.acl.Stamp}}
	}
	return sharingRec{ak: &store.AccessKeyRecord{Mailbox: r.ak.Mailbox, Key: []byte{}, Stamp: r.ak.Stamp}}
}

func (s *Sharing) add(r sharingRec) {
	if r.acl != nil {
		s.ACL = append(s.ACL, *r.acl)
	} else {
		s.Keys = append(s.Keys, *r.ak)
	}
}

// settleSharing returns what each side lacks of the other's, and what
// both then hold of the mailboxes both hold (onBoth), by settleRecords.
func settleSharing(a, b Sharing, common map[string]sharingRec, onBoth map[string]bool) (toA, toB, both Sharing) {
	ta, tb, bo := settleRecords(recsOf(a), recsOf(b), common, func(r sharingRec) bool { return onBoth[r.mailbox()] })
	for _, x := range []struct {
		from []sharingRec
		to   *Sharing
	}{{ta, &toA}, {tb, &toB}, {bo, &both}} {
		for _, r := range x.from {
			x.to.add(r)
		}
	}
	return toA, toB, both
}
