package sqlitestore

import "sync"

// previewCache keeps the previews ReadMessages computed, by blob id:
// every message stored since schema version 14 keeps none (summary.go),
// so a FETCH PREVIEW would otherwise decompress and scan each body again
// on every request. A blob id names the bytes, which never change, so an
// entry is never stale. Past previewCacheMax entries the cache starts
// over: it bounds the memory of each open user's store.
type previewCache struct {
	mu sync.Mutex
	m  map[string]string // guarded by mu
}

// previewCacheMax is about 1 MB of previews and keys on typical mail
// (200-byte previews, 64-byte ids): the recent messages a client shows.
const previewCacheMax = 4096

func (c *previewCache) get(blobID string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pv, ok := c.m[blobID]
	return pv, ok
}

func (c *previewCache) put(blobID, preview string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= previewCacheMax {
		c.m = make(map[string]string)
	}
	c.m[blobID] = preview
}
