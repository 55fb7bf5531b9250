package auth

import (
	"net/netip"
	"sync"
	"time"
)

// failureLimiter counts failed logins per key (an address prefix or a user
// name) in a fixed window. A key that reaches max failures is blocked until
// its cooling period ends. Attempts in flight are counted too, so that N
// parallel attempts cannot all pass a check made before any of them failed.
type failureLimiter struct {
	max      int // <= 0: no limit
	window   time.Duration
	cooldown time.Duration

	mu        sync.Mutex
	entries   map[string]*failureEntry // guarded by mu
	lastSweep time.Time                // guarded by mu
}

type failureEntry struct {
	failures     int       // failures since windowStart
	inflight     int       // begun, not yet ended
	windowStart  time.Time // time of the first failure of the window
	blockedUntil time.Time // zero if not blocked
}

func newFailureLimiter(max int, window, cooldown time.Duration) *failureLimiter {
	return &failureLimiter{max: max, window: window, cooldown: cooldown, entries: map[string]*failureEntry{}}
}

// begin registers an attempt for key, or refuses it if the key is blocked or
// its failures plus attempts in flight have reached the limit. Every
// successful begin must be matched by one end.
func (l *failureLimiter) begin(key string, now time.Time) bool {
	if l.max <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
	e := l.entries[key]
	if e == nil {
		e = &failureEntry{}
		l.entries[key] = e
	}
	if now.Before(e.blockedUntil) {
		return false
	}
	if e.failures > 0 && now.Sub(e.windowStart) >= l.window {
		e.failures = 0
	}
	if e.failures+e.inflight >= l.max {
		return false
	}
	e.inflight++
	return true
}

// end closes an attempt begun with begin. failed counts it; clear (on a
// successful login) forgets the key's earlier failures.
func (l *failureLimiter) end(key string, now time.Time, failed, clear bool) {
	if l.max <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
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
		if e.inflight == 0 && !now.Before(e.blockedUntil) &&
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
