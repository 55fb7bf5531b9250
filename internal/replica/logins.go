package replica

import (
	"context"
	"errors"
	"fmt"
	"net/rpc"
	"slices"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/quota"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Logins (the accounts of internal/auth: who may log in, with which
// password hash) replicate beside the mail. The records are few and small,
// so each sync compares them whole: each side reads all of its records,
// and each receives those of the other's that win over its own by
// auth.Record.Newer (later stamp, then deletion, then hash). Apply checks
// the rule again in its own transaction, so a change made here during the
// sync is never overwritten by an older one.

// ErrNoLogins is returned by a side that replicates no accounts (a Local
// without Accounts); SyncLogins then does nothing.
var ErrNoLogins = errors.New("replication: no accounts database here")

// unsupported reports a peer too old to have the call: it keeps
// replicating mail, and its accounts are left alone, while replicas are
// upgraded one by one.
func unsupported(err error) bool {
	var se rpc.ServerError
	return errors.As(err, &se) && strings.Contains(string(se), "can't find method")
}

// loginSide is a Side that can exchange account records: Local and Client.
type loginSide interface {
	LoginRecords(ctx context.Context) ([]auth.Record, error)
	ApplyLogins(ctx context.Context, recs []auth.Record) (int, error)
}

// LoginRecords returns the local account records.
func (l *Local) LoginRecords(ctx context.Context) ([]auth.Record, error) {
	if l.Accounts == nil {
		return nil, ErrNoLogins
	}
	return l.Accounts.Records(ctx)
}

// ApplyLogins applies a peer's account records here. A user deleted
// there (a tombstone that wins here) loses its mail store here too, under
// its sync lock, so that a deleted user stays deleted on every replica.
func (l *Local) ApplyLogins(ctx context.Context, recs []auth.Record) (int, error) {
	if l.Accounts == nil {
		return 0, ErrNoLogins
	}
	n, err := l.Accounts.Apply(ctx, recs)
	if err != nil {
		return n, err
	}
	for _, r := range recs {
		if !r.Deleted {
			continue
		}
		if err := l.removeDeleted(ctx, r.Name); err != nil {
			return n, err
		}
	}
	return n, nil
}

// removeDeleted removes the mail store of a user whose login is deleted
// here, if it still exists.
func (l *Local) removeDeleted(ctx context.Context, user string) error {
	gone, err := l.Accounts.Deleted(ctx, user)
	if err != nil || !gone {
		return err
	}
	unlock, err := l.Lock(ctx, user)
	if err != nil {
		return err
	}
	defer unlock()
	if err := l.Store.DeleteUser(ctx, user); err != nil && !errors.Is(err, store.ErrNoUser) {
		return fmt.Errorf("delete mail of deleted user %s: %w", user, err)
	}
	return nil
}

// SyncLogins brings the account records of a and b to the same state (only
// those of opts.Users, when given). Stats.Logins counts the records
// applied, both directions together. A login new to one side needs its
// mail store there before anyone can log in with it, so such a user's mail
// is synced (SyncUser, which creates the store) before its record is
// applied; the other Stats fields count that. When either side has no
// accounts database it does nothing.
func SyncLogins(ctx context.Context, a, b Side, opts Options) (Stats, error) {
	var st Stats
	la, okA := a.(loginSide)
	lb, okB := b.(loginSide)
	if !okA || !okB {
		return st, nil
	}
	ra, err := la.LoginRecords(ctx)
	if errors.Is(err, ErrNoLogins) {
		return st, nil
	} else if err != nil {
		return st, err
	}
	rb, err := lb.LoginRecords(ctx)
	if errors.Is(err, ErrNoLogins) || unsupported(err) {
		return st, nil
	} else if err != nil {
		return st, err
	}
	common, sides, record, err := loginsCommon(ctx, a, b)
	if err != nil {
		return st, err
	}
	// Without records of what was held in common (a peer without the
	// calls) common is empty, and the rule is the plain one: each side
	// takes what beats its own or what it lacks.
	toA, toB, both := settleLogins(ra, rb, common, opts.Users)
	for _, x := range []struct {
		recs []auth.Record
		have []auth.Record
	}{{toA, ra}, {toB, rb}} {
		live := make(map[string]bool)
		for _, r := range x.have {
			live[r.Name] = !r.Deleted
		}
		for _, r := range x.recs {
			if r.Deleted || live[r.Name] {
				continue
			}
			us, err := SyncUser(ctx, a, b, r.Name, opts)
			us.Users = 0 // counted by Sync's round of users
			st.add(us)
			if err != nil {
				return st, fmt.Errorf("user %s: %w", r.Name, err)
			}
		}
	}
	if len(toA) > 0 {
		k, err := la.ApplyLogins(ctx, toA)
		st.Logins += k
		if err != nil {
			return st, err
		}
	}
	if len(toB) > 0 {
		k, err := lb.ApplyLogins(ctx, toB)
		st.Logins += k
		if err != nil {
			return st, err
		}
	}
	if record && len(opts.Users) == 0 {
		// Both now hold these (or, where a change was made meanwhile, a
		// later record): what each records as held in common with the
		// other. A partial exchange (some users) records nothing.
		held := make([]loginRec, len(both))
		for i, r := range both {
			held[i] = loginRec(r)
		}
		for i, x := range []struct {
			s    Side
			peer string
		}{{a, b.Node()}, {b, a.Node()}} {
			if sides[i].holds(held) {
				continue // nothing changed: nothing is written
			}
			if err := x.s.(loginPeerSide).SetLoginPeer(ctx, x.peer, both); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// LoginRecords returns the peer's account records.
func (c *Client) LoginRecords(ctx context.Context) ([]auth.Record, error) {
	var r []auth.Record
	return r, c.call(ctx, "LoginRecords", Args{}, &r)
}

// ApplyLogins applies account records on the peer.
func (c *Client) ApplyLogins(ctx context.Context, recs []auth.Record) (int, error) {
	var n int
	return n, c.call(ctx, "ApplyLogins", Args{Logins: recs}, &n)
}

// LoginRecords is Local.LoginRecords.
func (v *Service) LoginRecords(_ Args, r *[]auth.Record) (err error) {
	if !v.isAuthed() {
		return errors.New("replication: not authenticated")
	}
	*r, err = v.srv.Local.LoginRecords(context.Background())
	return err
}

// ApplyLogins is Local.ApplyLogins.
func (v *Service) ApplyLogins(a Args, r *int) (err error) {
	if !v.isAuthed() {
		return errors.New("replication: not authenticated")
	}
	*r, err = v.srv.Local.ApplyLogins(context.Background(), a.Logins)
	if err == nil && *r > 0 && v.srv.OnSettings != nil {
		v.srv.OnSettings()
	}
	return err
}

// Quota settings (SETQUOTA overrides, internal/quota) replicate the same
// way: compared whole, each side receiving the other's newer ones
// (quota.Override.Newer).

// ErrNoQuotas is returned by a side that replicates no quota settings (a
// Local without Quotas); SyncQuotas then does nothing.
var ErrNoQuotas = errors.New("replication: no quota settings here")

type quotaSide interface {
	QuotaOverrides(ctx context.Context) ([]quota.Override, error)
	ApplyQuotas(ctx context.Context, set []quota.Override) (int, error)
}

// QuotaOverrides returns the local SETQUOTA overrides.
func (l *Local) QuotaOverrides(ctx context.Context) ([]quota.Override, error) {
	if l.Quotas == nil {
		return nil, ErrNoQuotas
	}
	return l.Quotas.Overrides(), nil
}

// ApplyQuotas applies a peer's overrides here.
func (l *Local) ApplyQuotas(ctx context.Context, set []quota.Override) (int, error) {
	if l.Quotas == nil {
		return 0, ErrNoQuotas
	}
	return l.Quotas.ApplyOverrides(set)
}

// SyncQuotas brings the quota overrides of a and b to the same state (only
// those of users, when given) and returns how many were applied. When
// either side has none to replicate it does nothing.
func SyncQuotas(ctx context.Context, a, b Side, users []string) (int, error) {
	qa, okA := a.(quotaSide)
	qb, okB := b.(quotaSide)
	if !okA || !okB {
		return 0, nil
	}
	oa, err := qa.QuotaOverrides(ctx)
	if errors.Is(err, ErrNoQuotas) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	ob, err := qb.QuotaOverrides(ctx)
	if errors.Is(err, ErrNoQuotas) || unsupported(err) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	toA, toB := newerOverrides(ob, oa, users), newerOverrides(oa, ob, users)
	n := 0
	if len(toA) > 0 {
		k, err := qa.ApplyQuotas(ctx, toA)
		n += k
		if err != nil {
			return n, err
		}
	}
	if len(toB) > 0 {
		k, err := qb.ApplyQuotas(ctx, toB)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func newerOverrides(from, to []quota.Override, users []string) []quota.Override {
	have := make(map[string]quota.Override, len(to))
	for _, o := range to {
		have[o.User] = o
	}
	var out []quota.Override
	for _, o := range from {
		if len(users) > 0 && !slices.Contains(users, o.User) {
			continue
		}
		if cur, ok := have[o.User]; !ok || o.Newer(cur) {
			out = append(out, o)
		}
	}
	return out
}

// QuotaOverrides returns the peer's overrides. User is not part of an
// Override's encoding in the overrides file, so it crosses the wire in
// quotaWire.
func (c *Client) QuotaOverrides(ctx context.Context) ([]quota.Override, error) {
	var r []quotaWire
	err := c.call(ctx, "QuotaOverrides", Args{}, &r)
	return fromWire(r), err
}

// ApplyQuotas applies overrides on the peer.
func (c *Client) ApplyQuotas(ctx context.Context, set []quota.Override) (int, error) {
	var n int
	return n, c.call(ctx, "ApplyQuotas", Args{Quotas: toWire(set)}, &n)
}

// quotaWire is a quota.Override on the wire.
type quotaWire struct {
	User  string
	Limit quota.Limits
	Stamp int64
}

func toWire(set []quota.Override) []quotaWire {
	out := make([]quotaWire, len(set))
	for i, o := range set {
		out[i] = quotaWire{User: o.User, Limit: o.Limits, Stamp: o.Stamp}
	}
	return out
}

func fromWire(set []quotaWire) []quota.Override {
	out := make([]quota.Override, len(set))
	for i, w := range set {
		out[i] = quota.Override{User: w.User, Limits: w.Limit, Stamp: w.Stamp}
	}
	return out
}

// QuotaOverrides is Local.QuotaOverrides.
func (v *Service) QuotaOverrides(_ Args, r *[]quotaWire) error {
	if !v.isAuthed() {
		return errors.New("replication: not authenticated")
	}
	set, err := v.srv.Local.QuotaOverrides(context.Background())
	*r = toWire(set)
	return err
}

// ApplyQuotas is Local.ApplyQuotas.
func (v *Service) ApplyQuotas(a Args, r *int) (err error) {
	if !v.isAuthed() {
		return errors.New("replication: not authenticated")
	}
	*r, err = v.srv.Local.ApplyQuotas(context.Background(), fromWire(a.Quotas))
	if err == nil && *r > 0 && v.srv.OnSettings != nil {
		v.srv.OnSettings()
	}
	return err
}
