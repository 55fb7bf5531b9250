package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Authenticate checks name and password for a client at remote (the zero
// Addr if there is no network peer, which exempts the attempt from the
// per-address limit). It returns nil, ErrAuthFailed, ErrThrottled, or an
// operational error that is neither (database unreadable, damaged record,
// ctx done). Failures are answered only after Options.FailureDelay.
//
// Limits (see the package documentation): failures per address, failures
// per user and address pair, and a slower brake on a user's failures from
// all addresses together. Only failures are counted; attempts in flight
// wait their turn rather than being refused.
//
// The answer does not say whether the user exists, in content or in time:
// an unknown user costs the same argon2id computation as a wrong password.
func (a *Accounts) Authenticate(ctx context.Context, name, password string, remote netip.Addr) error {
	ipKey := addrKey(remote)
	user, nameErr := NormalizeName(name)

	if ipKey != "" {
		ok, err := a.byIP.begin(ctx, ipKey, a.opts.Now)
		if err != nil {
			return err
		}
		if !ok {
			a.failureDelay(ctx)
			return ErrThrottled
		}
	}
	if nameErr == nil {
		ok, err := a.byPair.begin(ctx, pairKey(user, ipKey), a.opts.Now)
		if err == nil && ok {
			err = a.sleep(ctx, a.byUser.turn(user, a.opts.Now()))
			if err != nil {
				a.byPair.end(pairKey(user, ipKey), a.opts.Now(), false, false)
			}
		}
		if err != nil || !ok {
			if ipKey != "" {
				a.byIP.end(ipKey, a.opts.Now(), false, false)
			}
			if err != nil {
				return err
			}
			a.failureDelay(ctx)
			return ErrThrottled
		}
	}

	ok, err := a.verify(ctx, user, nameErr, password)

	now := a.opts.Now()
	failed := err == nil && !ok
	if ipKey != "" {
		a.byIP.end(ipKey, now, failed, false)
	}
	if nameErr == nil {
		a.byPair.end(pairKey(user, ipKey), now, failed, ok)
		if failed {
			a.byUser.failed(user, now)
		}
	}
	switch {
	case err != nil:
		return err
	case !ok:
		a.failureDelay(ctx)
		return ErrAuthFailed
	}
	return nil
}

// verify decides whether password is user's. A false result with nil error
// is a wrong password or unknown user; an error is an operational failure.
func (a *Accounts) verify(ctx context.Context, user string, nameErr error, password string) (bool, error) {
	if nameErr != nil || checkPassword(password) != nil {
		// Refused on its form alone, which says nothing about whether any
		// account exists, so there is no need to spend a hash on it.
		return false, nil
	}
	rec, err := a.record(ctx, user)
	if errors.Is(err, ErrNoUser) {
		if err := a.acquireHashSlot(ctx); err != nil {
			return false, err
		}
		a.dummy.verify(password)
		a.releaseHashSlot()
		a.verified.Add(1)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if a.cache.check(user, rec, password, a.opts.Now()) {
		return true, nil
	}
	h, err := parsePHC(rec)
	if err != nil {
		return false, fmt.Errorf("auth: record of %s: %w", user, err)
	}
	if err := a.acquireHashSlot(ctx); err != nil {
		return false, err
	}
	ok := h.verify(password)
	a.releaseHashSlot()
	a.verified.Add(1)
	if !ok {
		return false, nil
	}
	if h.outdated(a.opts.Hash) {
		if newRec, err := a.rehash(ctx, user, rec, password); err == nil {
			rec = newRec
		}
	}
	a.cache.put(user, rec, password, a.opts.Now())
	return true, nil
}

// rehash replaces a record made with other parameters than the configured
// ones, now that the password is known. The update applies only if the
// record is still the one verified, so it never undoes a concurrent
// SetPassword. Failure is harmless: the old record keeps working.
func (a *Accounts) rehash(ctx context.Context, user, oldRec, password string) (string, error) {
	newRec, err := a.hash(ctx, password)
	if err != nil {
		return "", err
	}
	ok, err := a.recs.replaceHash(ctx, user, oldRec, newRec)
	if err != nil {
		return "", fmt.Errorf("auth: rehash %s: %w", user, err)
	}
	if !ok {
		return "", fmt.Errorf("auth: rehash %s: record changed meanwhile", user)
	}
	return newRec, nil
}

func (a *Accounts) failureDelay(ctx context.Context) {
	sleepCtx(ctx, a.opts.FailureDelay)
}

// sleepCtx waits d, or until ctx ends (its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
