// Package gencache is a cache bounded by the bytes it holds, in two
// generations: entries go into the current one; once it holds half the
// budget it becomes the old one (the previous old one dropped) and a new
// current one starts; a hit in the old generation moves the entry to the
// current one. So what was used recently stays, at most the budget in
// all, with no per-entry bookkeeping beyond two maps. It suits values
// that are a pure function of their key (bytes named by their hash, the
// rendering of stored bytes): an entry is never stale.
package gencache

import "sync"

// Cache maps K to V, holding at most Max bytes as counted by Size (each
// key's and value's bytes, as the caller reckons them). It is safe for
// concurrent use.
type Cache[K comparable, V any] struct {
	// Max is the budget in bytes; an entry larger than Max/64 is not
	// kept.
	Max int
	// Size is an entry's cost in bytes.
	Size func(K, V) int

	mu       sync.Mutex
	cur, old map[K]V // guarded by mu
	curBytes int     // guarded by mu
}

// Get returns the value kept for k.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cur[k]; ok {
		return v, true
	}
	v, ok := c.old[k]
	if ok {
		delete(c.old, k)
		c.add(k, v, c.Size(k, v))
	}
	return v, ok
}

// Put keeps v for k, unless it is larger than Max/64.
func (c *Cache[K, V]) Put(k K, v V) {
	n := c.Size(k, v)
	if n > c.Max/64 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cur[k]; !ok {
		c.add(k, v, n)
	}
}

// Clear drops every entry.
func (c *Cache[K, V]) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur, c.old, c.curBytes = nil, nil, 0
}

// Held returns the bytes the cache holds.
func (c *Cache[K, V]) Held() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, g := range []map[K]V{c.cur, c.old} {
		for k, v := range g {
			n += c.Size(k, v)
		}
	}
	return n
}

// add puts an entry of n bytes into the current generation, turning the
// generation first when it is full. Called with mu held.
func (c *Cache[K, V]) add(k K, v V, n int) {
	if c.cur == nil || c.curBytes+n > c.Max/2 {
		c.old, c.cur, c.curBytes = c.cur, make(map[K]V), 0
	}
	c.cur[k] = v
	c.curBytes += n
}
