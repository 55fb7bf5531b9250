package sqlitestore

import (
	"sync"

	"github.com/tidemark-mail/tidemark/internal/bodypack"
)

// bodyCache keeps the bytes of the compressed inline bodies FETCH read,
// by blob id, so that reading the same messages again (a client fetching
// its newest mail once more, a second client of the same user) copies
// them instead of decompressing each frame again: zstd took about two
// thirds of the server's CPU for FETCH BODY[] of small messages, most of
// it fixed costs of a frame (its literal table) and the decoding of
// matches into the dictionary, which the library's fast path does not
// take. A blob id is the SHA-256 of the bytes, so an entry is never stale,
// and one user's FETCH finds only the bytes of a message it already read
// from its own row; the cache is shared by every store of the process,
// its size bounded as a whole.
//
// Two generations: entries go into cur; once cur holds half the budget it
// becomes old and cur starts empty; a hit in old moves the entry to cur.
// What was read recently stays, at most bodyCacheBytes in all.
type bodyCache struct {
	mu       sync.Mutex
	cur, old map[string][]byte // guarded by mu
	curBytes int               // guarded by mu
	max      int
}

// bodyCacheBytes bounds the decompressed bytes the process keeps: several
// thousand typical messages, the last screens of many users.
const bodyCacheBytes = 32 << 20

var bodies = bodyCache{max: bodyCacheBytes}

func (c *bodyCache) get(blobID string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.cur[blobID]; ok {
		return b, true
	}
	b, ok := c.old[blobID]
	if ok {
		delete(c.old, blobID)
		c.add(blobID, b)
	}
	return b, ok
}

func (c *bodyCache) put(blobID string, data []byte) {
	if len(data) > c.max/64 {
		return // bodies kept inline are far smaller; this bounds any one
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cur[blobID]; !ok {
		c.add(blobID, data)
	}
}

// add puts an entry into cur, turning the generation first when cur is
// full. Called with mu held.
func (c *bodyCache) add(blobID string, data []byte) {
	if c.cur == nil || c.curBytes+len(data) > c.max/2 {
		c.old, c.cur, c.curBytes = c.cur, make(map[string][]byte), 0
	}
	c.cur[blobID] = data
	c.curBytes += len(data)
}

// appendBody appends the bytes of a packed inline body to dst: copied
// from the cache when the body was decompressed before, else
// decompressed and kept there. A body stored as it is needs neither.
func (c *bodyCache) appendBody(dst []byte, blobID string, packed []byte) ([]byte, error) {
	if !bodypack.IsFrame(packed) {
		return append(dst, packed...), nil
	}
	if data, ok := c.get(blobID); ok {
		return append(dst, data...), nil
	}
	data, err := bodypack.Unpack(packed)
	if err != nil {
		return dst, err
	}
	c.put(blobID, data)
	return append(dst, data...), nil
}
