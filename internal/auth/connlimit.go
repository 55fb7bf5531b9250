package auth

import (
	"net/netip"
	"sync"
)

// ConnLimiter caps simultaneous connections per client address (IPv6 by
// /64, as for login throttling) and simultaneous sessions per user. Each
// successful Acquire returns a release function; calling it more than once
// is harmless.
type ConnLimiter struct {
	perIP, perUser int // <= 0: unlimited

	mu             sync.Mutex
	exemptLoopback bool           // guarded by mu
	byIP           map[string]int // guarded by mu; zero counts are deleted
	byUser         map[string]int // guarded by mu; zero counts are deleted
}

// NewConnLimiter returns a limiter allowing perIP connections per address
// and perUser sessions per user; zero or negative means no limit. Loopback
// addresses are limited like any other unless SetLoopbackExempt(true).
func NewConnLimiter(perIP, perUser int) *ConnLimiter {
	return &ConnLimiter{perIP: perIP, perUser: perUser, byIP: map[string]int{}, byUser: map[string]int{}}
}

// SetLoopbackExempt makes connections from 127.0.0.0/8 and ::1 bypass the
// per-address limit (local webmail or a proxy that connects for many
// users). Per-user limits still apply.
func (l *ConnLimiter) SetLoopbackExempt(exempt bool) {
	l.mu.Lock()
	l.exemptLoopback = exempt
	l.mu.Unlock()
}

// AcquireIP takes a connection slot for ip. ok is false, and release nil,
// if ip already holds its limit. The zero Addr (a connection without a
// network peer, such as a Unix socket) is not limited.
func (l *ConnLimiter) AcquireIP(ip netip.Addr) (release func(), ok bool) {
	l.mu.Lock()
	exempt := !ip.IsValid() || l.exemptLoopback && ip.Unmap().IsLoopback()
	l.mu.Unlock()
	if exempt {
		return func() {}, true
	}
	return l.acquire(l.byIP, addrKey(ip), l.perIP)
}

// AcquireUser takes a session slot for user (compared case-insensitively).
func (l *ConnLimiter) AcquireUser(user string) (release func(), ok bool) {
	return l.acquire(l.byUser, asciiLower(user), l.perUser)
}

func (l *ConnLimiter) acquire(counts map[string]int, key string, limit int) (func(), bool) {
	if limit <= 0 {
		return func() {}, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if counts[key] >= limit {
		return nil, false
	}
	counts[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if counts[key]--; counts[key] <= 0 {
				delete(counts, key)
			}
		})
	}, true
}

// counts reports the tracked keys (for tests).
func (l *ConnLimiter) counts() (ips, users int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byIP), len(l.byUser)
}
