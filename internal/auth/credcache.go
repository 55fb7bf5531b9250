package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// credCache remembers, per user, a keyed hash of the last password that
// passed argon2id, so a client that logs in again and again (a phone
// opening a connection per folder) pays the full cost once per TTL. It never
// holds a password: only HMAC-SHA-256 under a key drawn at random for this
// process. Without the key an entry reveals nothing; with it (a full memory
// dump) each guess costs an HMAC instead of argon2id, which is why entries
// live only in memory and only for minutes.
type credCache struct {
	ttl time.Duration // <= 0: disabled
	key [32]byte

	mu      sync.Mutex
	entries map[string]credEntry // by user; guarded by mu
	puts    int                  // inserts since the last sweep; guarded by mu
}

type credEntry struct {
	record  string // the PHC string the password was verified against
	mac     [sha256.Size]byte
	expires time.Time
}

func newCredCache(ttl time.Duration) *credCache {
	c := &credCache{ttl: ttl, entries: map[string]credEntry{}}
	if _, err := rand.Read(c.key[:]); err != nil {
		panic("auth: crypto/rand failed: " + err.Error()) // rand.Read never fails on supported systems
	}
	return c
}

func (c *credCache) mac(user, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key[:])
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// check reports whether password was verified for user against record
// within the TTL.
func (c *credCache) check(user, record, password string, now time.Time) bool {
	if c.ttl <= 0 {
		return false
	}
	c.mu.Lock()
	e, ok := c.entries[user]
	c.mu.Unlock()
	if !ok || e.record != record || !now.Before(e.expires) {
		return false
	}
	want := c.mac(user, password)
	return hmac.Equal(want[:], e.mac[:])
}

// put records a verified password.
func (c *credCache) put(user, record, password string, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	e := credEntry{record: record, mac: c.mac(user, password), expires: now.Add(c.ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[user] = e
	c.puts++
	if c.puts >= 1024 {
		c.puts = 0
		for u, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, u)
			}
		}
	}
}

// forget drops user's entry (password changed or account deleted).
func (c *credCache) forget(user string) {
	c.mu.Lock()
	delete(c.entries, user)
	c.mu.Unlock()
}

func (c *credCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
