package auth

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// failureLimiter counts failed logins per key (an address prefix, or a user
// and address pair) in a fixed window. A key that reaches max failures is
// blocked until its cooling period ends. Only failures count: a busy key
// with many correct logins is never blocked.
//
// Attempts in flight are bounded, not counted as failures: at most max
// minus the failures so far may be checked at once, and further attempts
// wait for one to end (queue, don't refuse). So N parallel attempts cannot
// all pass a check made before any of them failed, and a burst of correct
// logins from one address is slowed to the pace of the hashing, never
// refused.
type failureLimiter struct {
	max      int // <= 0: no limit
	window   time.Duration
	cooldown time.Duration

	mu        sync.Mutex
	entries   map[string]*failureEntry // guarded by mu
	lastSweep time.Time                // guarded by mu
	// ended is closed and replaced whenever an attempt ends, waking the
	// attempts waiting for a slot; guarded by mu.
	ended chan struct{}
}

type failureEntry struct {
	failures     int       // failures since windowStart
	inflight     int       // begun, not yet ended
	waiting      int       // waiting in begin for a slot
	windowStart  time.Time // time of the first failure of the window
	blockedUntil time.Time // zero if not blocked
}

func newFailureLimiter(max int, window, cooldown time.Duration) *failureLimiter {
	return &failureLimiter{max: max, window: window, cooldown: cooldown,
		entries: map[string]*failureEntry{}, ended: make(chan struct{})}
}

// begin registers an attempt for key. It returns false if the key is
// blocked, and waits while the key's failures plus attempts in flight have
// reached the limit; an error only when ctx ends first. Every begin that
// returns true must be matched by one end.
func (l *failureLimiter) begin(ctx context.Context, key string, now func() time.Time) (bool, error) {
	if l.max <= 0 {
		return true, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now())
	e := l.entries[key]
	if e == nil {
		e = &failureEntry{}
		l.entries[key] = e
	}
	for {
		t := now()
		if t.Before(e.blockedUntil) {
			return false, nil
		}
		if e.failures > 0 && t.Sub(e.windowStart) >= l.window {
			e.failures = 0
		}
		if e.failures+e.inflight < l.max {
			e.inflight++
			return true, nil
		}
		ended := l.ended
		e.waiting++
		l.mu.Unlock()
		var err error
		select {
		case <-ended:
		case <-ctx.Done():
			err = ctx.Err()
		}
		l.mu.Lock()
		e.waiting--
		if err != nil {
			return false, err
		}
	}
}

// end closes an attempt begun with begin. failed counts it; clear (on a
// successful login) forgets the key's earlier failures.
func (l *failureLimiter) end(key string, now time.Time, failed, clear bool) {
	if l.max <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.ended)
	l.ended = make(chan struct{})
	e := l.entries[key]
	if e == nil {
		return // cannot happen: begin created it and sweeps keep entries in flight
	}
	e.inflight--
	switch {
	case failed:
		if e.failures == 0 || now.Sub(e.windowStart) >= l.window {
			e.failures, e.windowStart = 0, now
		}
		e.failures++
		if e.failures >= l.max {
			e.blockedUntil = now.Add(l.cooldown)
			e.failures = 0
		}
	case clear:
		e.failures = 0
		e.blockedUntil = time.Time{}
	}
}

// sweepLocked drops idle entries, at most once per window, so the map holds
// only keys seen in roughly the last window plus cooldown.
func (l *failureLimiter) sweepLocked(now time.Time) {
	if now.Sub(l.lastSweep) < l.window {
		return
	}
	l.lastSweep = now
	for k, e := range l.entries {
		if e.inflight == 0 && e.waiting == 0 && !now.Before(e.blockedUntil) &&
			(e.failures == 0 || now.Sub(e.windowStart) >= l.window) {
			delete(l.entries, k)
		}
	}
}

// size reports the number of tracked keys (for tests).
func (l *failureLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// userBrake is the slower, global brake on one user's failures from every
// address together. It never refuses: once a user's failures in the window
// reach max, that user's password checks are spaced interval apart (each
// attempt waits for its turn), so guessing one password from many addresses
// is slowed to one guess per interval while the owner, from an address that
// has not failed, still gets in after a wait.
type userBrake struct {
	max      int // <= 0: no brake
	window   time.Duration
	interval time.Duration

	mu        sync.Mutex
	entries   map[string]*brakeEntry // guarded by mu
	lastSweep time.Time              // guarded by mu
}

type brakeEntry struct {
	failures    int
	windowStart time.Time
	next        time.Time // earliest start of the next check while braked
}

func newUserBrake(max int, window, interval time.Duration) *userBrake {
	return &userBrake{max: max, window: window, interval: interval, entries: map[string]*brakeEntry{}}
}

// turn returns how long an attempt for user must wait before its password
// is checked: zero unless the user is braked.
func (b *userBrake) turn(user string, now time.Time) time.Duration {
	if b.max <= 0 {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweepLocked(now)
	e := b.entries[user]
	if e == nil || e.failures < b.max {
		return 0
	}
	if now.Sub(e.windowStart) >= b.window && !now.Before(e.next) {
		delete(b.entries, user)
		return 0
	}
	slot := now
	if e.next.After(now) {
		slot = e.next
	}
	e.next = slot.Add(b.interval)
	return slot.Sub(now)
}

// failed counts a failure for user.
func (b *userBrake) failed(user string, now time.Time) {
	if b.max <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[user]
	if e == nil {
		e = &brakeEntry{}
		b.entries[user] = e
	}
	if e.failures == 0 || now.Sub(e.windowStart) >= b.window {
		if e.failures < b.max || !now.Before(e.next) {
			e.failures, e.windowStart = 0, now
		}
	}
	e.failures++
}

func (b *userBrake) sweepLocked(now time.Time) {
	if now.Sub(b.lastSweep) < b.window {
		return
	}
	b.lastSweep = now
	for k, e := range b.entries {
		if now.Sub(e.windowStart) >= b.window && !now.Before(e.next) {
			delete(b.entries, k)
		}
	}
}

// addrKey maps a client address to the unit that is limited: an IPv4
// address, or the /64 an IPv6 address belongs to, since one host commonly
// holds a whole /64. IPv4-mapped IPv6 addresses count as IPv4. The zero
// Addr (no network peer) yields "".
func addrKey(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// pairKey is the key of one user at one address.
func pairKey(user, ipKey string) string { return user + " " + ipKey }
