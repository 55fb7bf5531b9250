package replica

import (
	"context"
	"errors"
	"slices"

	"github.com/tidemark-mail/tidemark/internal/auth"
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

// ApplyLogins applies a peer's account records here.
func (l *Local) ApplyLogins(ctx context.Context, recs []auth.Record) (int, error) {
	if l.Accounts == nil {
		return 0, ErrNoLogins
	}
	return l.Accounts.Apply(ctx, recs)
}

// SyncLogins brings the account records of a and b to the same state (only
// those of users, when given) and returns how many records were applied,
// both directions together. When either side has no accounts database it
// does nothing.
func SyncLogins(ctx context.Context, a, b Side, users []string) (int, error) {
	la, okA := a.(loginSide)
	lb, okB := b.(loginSide)
	if !okA || !okB {
		return 0, nil
	}
	ra, err := la.LoginRecords(ctx)
	if errors.Is(err, ErrNoLogins) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	rb, err := lb.LoginRecords(ctx)
	if errors.Is(err, ErrNoLogins) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	toA, toB := newerRecords(rb, ra, users), newerRecords(ra, rb, users)
	n := 0
	if len(toA) > 0 {
		k, err := la.ApplyLogins(ctx, toA)
		n += k
		if err != nil {
			return n, err
		}
	}
	if len(toB) > 0 {
		k, err := lb.ApplyLogins(ctx, toB)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// newerRecords returns the records of from that win over those of to (or
// that to lacks), restricted to users when given.
func newerRecords(from, to []auth.Record, users []string) []auth.Record {
	have := make(map[string]auth.Record, len(to))
	for _, r := range to {
		have[r.Name] = r
	}
	var out []auth.Record
	for _, r := range from {
		if len(users) > 0 && !slices.Contains(users, r.Name) {
			continue
		}
		if cur, ok := have[r.Name]; !ok || r.Newer(cur) {
			out = append(out, r)
		}
	}
	return out
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
	if err == nil && *r > 0 && v.srv.OnLogins != nil {
		v.srv.OnLogins()
	}
	return err
}
