package replica

import (
	"context"
	"errors"
	"slices"

	"github.com/tidemark-mail/tidemark/internal/auth"
)

// Account tombstones are pruned (auth.Accounts.PruneTombstones) once
// every peer holds them, so an exchange can meet a name that one side
// has no record of at all although the other side's record of it was
// held by both when they last exchanged: that side deleted the account
// and has pruned the tombstone since. Each side records, per peer, the
// records both held when their last full exchange ended (the winner of
// each name, auth.Accounts.PeerRecords), and that record, on either side,
// is what tells it (docs/replication.md, "Pruning").

// loginPeerSide is a side that records what it held in common with each
// peer. A peer too old to have the calls keeps its tombstones for good:
// nothing is recorded, so nothing it exchanges is ever pruned.
type loginPeerSide interface {
	LoginPeer(ctx context.Context, peer string) ([]auth.Record, bool, error)
	SetLoginPeer(ctx context.Context, peer string, recs []auth.Record) error
}

// LoginPeer returns the records recorded as held in common with peer.
func (l *Local) LoginPeer(ctx context.Context, peer string) ([]auth.Record, bool, error) {
	if l.Accounts == nil {
		return nil, false, ErrNoLogins
	}
	return l.Accounts.PeerRecords(ctx, peer)
}

// SetLoginPeer records recs as held in common with peer.
func (l *Local) SetLoginPeer(ctx context.Context, peer string, recs []auth.Record) error {
	if l.Accounts == nil {
		return ErrNoLogins
	}
	return l.Accounts.SetPeerRecords(ctx, peer, recs)
}

// LoginPeerReply is LoginPeer's answer on the wire.
type LoginPeerReply struct {
	Records []auth.Record
	Known   bool
}

// LoginPeer returns what the peer recorded as held in common with peer.
func (c *Client) LoginPeer(ctx context.Context, peer string) ([]auth.Record, bool, error) {
	var r LoginPeerReply
	err := c.call(ctx, "LoginPeer", Args{Peer: peer}, &r)
	return r.Records, r.Known, err
}

// SetLoginPeer records on the peer what it holds in common with peer.
func (c *Client) SetLoginPeer(ctx context.Context, peer string, recs []auth.Record) error {
	return c.call(ctx, "SetLoginPeer", Args{Peer: peer, Logins: recs}, &struct{}{})
}

// LoginPeer is Local.LoginPeer.
func (v *Service) LoginPeer(a Args, r *LoginPeerReply) (err error) {
	if !v.isAuthed() {
		return errors.New("replication: not authenticated")
	}
	r.Records, r.Known, err = v.srv.Local.LoginPeer(context.Background(), a.Peer)
	return err
}

// SetLoginPeer is Local.SetLoginPeer.
func (v *Service) SetLoginPeer(a Args, _ *struct{}) error {
	if !v.isAuthed() {
		return errors.New("replication: not authenticated")
	}
	return v.srv.Local.SetLoginPeer(context.Background(), a.Peer, a.Logins)
}

// loginsCommon reads what each side recorded as held in common with the
// other (by side, a first), and their union by name; ok is false when
// either side cannot record it.
func loginsCommon(ctx context.Context, a, b Side) (common map[string]auth.Record, sides [2]recorded[loginRec], ok bool, err error) {
	pa, okA := a.(loginPeerSide)
	pb, okB := b.(loginPeerSide)
	if !okA || !okB {
		return nil, sides, false, nil
	}
	common = make(map[string]auth.Record)
	for i, x := range []struct {
		s    loginPeerSide
		peer string
	}{{pa, b.Node()}, {pb, a.Node()}} {
		recs, known, err := x.s.LoginPeer(ctx, x.peer)
		if errors.Is(err, ErrNoLogins) || unsupported(err) {
			return nil, sides, false, nil
		} else if err != nil {
			return nil, sides, false, err
		}
		sides[i].known = known
		for _, r := range recs {
			common[r.Name] = r
			sides[i].recs = append(sides[i].recs, loginRec(r))
		}
	}
	return common, sides, true, nil
}

// settleLogins decides, for two sides' records and what they recorded
// in common, what each receives and what both hold afterwards
// (settleRecords), for the names in users (every name when empty).
func settleLogins(ra, rb []auth.Record, common map[string]auth.Record, users []string) (toA, toB, both []auth.Record) {
	in := func(rs []auth.Record) []loginRec {
		out := make([]loginRec, 0, len(rs))
		for _, r := range rs {
			if len(users) == 0 || slices.Contains(users, r.Name) {
				out = append(out, loginRec(r))
			}
		}
		return out
	}
	held := make(map[string]loginRec, len(common))
	for n, r := range common {
		held[n] = loginRec(r)
	}
	ta, tb, bo := settleRecords(in(ra), in(rb), held, func(loginRec) bool { return true })
	out := func(rs []loginRec) []auth.Record {
		recs := make([]auth.Record, len(rs))
		for i, r := range rs {
			recs[i] = auth.Record(r)
		}
		return recs
	}
	return out(ta), out(tb), out(bo)
}

// loginRec is an account record as settleRecords sees it.
type loginRec auth.Record

func (r loginRec) name() string          { return r.Name }
func (r loginRec) stamp() uint64         { return uint64(r.Stamp) }
func (r loginRec) removed() bool         { return r.Deleted }
func (r loginRec) beats(o loginRec) bool { return auth.Record(r).Newer(auth.Record(o)) }
func (r loginRec) removal() loginRec     { return loginRec{Name: r.Name, Stamp: r.Stamp, Deleted: true} }
