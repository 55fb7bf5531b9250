package sqlitestore

import (
	"github.com/tidemark-mail/tidemark/internal/bodypack"
	"github.com/tidemark-mail/tidemark/internal/gencache"
)

// bodyCache keeps the bytes of the compressed inline bodies FETCH read,
// by blob id, so that reading the same messages again (a client fetching
// its newest mail once more, a second client of the same user) copies
// them instead of decompressing each frame again: zstd took about two
// thirds of the server's CPU for FETCH BODY[] of small messages, much of
// it the fixed costs of a frame (its literal table) and the decoding of
// matches into the dictionary, which the library's assembly path does not
// take (bodypack.BenchmarkDecodeCorpus). A blob id is the SHA-256 of the
// bytes, so an entry is never stale, and one user's FETCH finds only the
// bytes of a message it just read from its own row; the cache is shared
// by every store of the process, bounded as a whole (package gencache).
type bodyCache struct {
	c gencache.Cache[string, []byte]
}

// bodyCacheBytes bounds the decompressed bytes the process keeps: some
// ten thousand typical messages, the last screens of many users.
const bodyCacheBytes = 32 << 20

var bodies = newBodyCache(bodyCacheBytes)

func newBodyCache(max int) *bodyCache {
	return &bodyCache{gencache.Cache[string, []byte]{Max: max, Size: func(id string, b []byte) int { return len(id) + len(b) }}}
}

// appendBody appends the bytes of a packed inline body to dst: copied
// from the cache when the body was decompressed before, else
// decompressed and kept there. A body stored as it is needs neither.
func (c *bodyCache) appendBody(dst []byte, blobID string, packed []byte) ([]byte, error) {
	if !bodypack.IsFrame(packed) {
		return append(dst, packed...), nil
	}
	if data, ok := c.c.Get(blobID); ok {
		return append(dst, data...), nil
	}
	data, err := bodypack.Unpack(packed)
	if err != nil {
		return dst, err
	}
	c.c.Put(blobID, data)
	return append(dst, data...), nil
}

// DropReadCaches empties the bodies FETCH keeps decompressed, so that a
// benchmark can measure a first read.
func DropReadCaches() { bodies.c.Clear() }
