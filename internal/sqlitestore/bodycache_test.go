package sqlitestore

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/bodypack"
)

// TestBodyCache: a body decompressed once is copied the next time, equal
// to its bytes; one stored as it is never enters the cache, nor does a
// frame that does not decompress.
func TestBodyCache(t *testing.T) {
	c := newBodyCache(64 << 10)
	text := []byte("Subject: cached\r\n\r\n" + strings.Repeat("a line that compresses well\r\n", 20))
	packed := bodypack.Pack(text)
	if !bodypack.IsFrame(packed) {
		t.Fatal("test body not compressed")
	}
	for run := range 2 {
		got, err := c.appendBody([]byte("x"), "id", packed)
		if err != nil || !bytes.Equal(got, append([]byte("x"), text...)) {
			t.Fatalf("run %d: %q, %v", run, got, err)
		}
		if _, ok := c.c.Get("id"); !ok {
			t.Fatalf("run %d: not cached", run)
		}
	}
	plain := []byte("short")
	if got, err := c.appendBody(nil, "plain", plain); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("%q, %v", got, err)
	}
	if _, ok := c.c.Get("plain"); ok {
		t.Fatal("a body stored as it is was cached")
	}
	if _, err := c.appendBody(nil, "bad", append(bytes.Clone(packed[:len(packed)/2]), 0, 0, 0)); err == nil {
		t.Fatal("a damaged frame decompressed")
	}
	if _, ok := c.c.Get("bad"); ok {
		t.Fatal("a damaged frame was cached")
	}
}
