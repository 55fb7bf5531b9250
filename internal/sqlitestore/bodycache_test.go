package sqlitestore

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/bodypack"
)

// TestBodyCache: a body decompressed once is copied the next time, equal
// to its bytes; one stored as it is never enters the cache; the cache
// holds at most its budget, keeping what was read last.
func TestBodyCache(t *testing.T) {
	c := bodyCache{max: 64 << 10}
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
		if _, ok := c.get("id"); !ok {
			t.Fatalf("run %d: not cached", run)
		}
	}
	plain := []byte("short")
	if got, err := c.appendBody(nil, "plain", plain); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("%q, %v", got, err)
	}
	if _, ok := c.get("plain"); ok {
		t.Fatal("a body stored as it is was cached")
	}
	if _, err := c.appendBody(nil, "bad", append(bytes.Clone(packed[:len(packed)/2]), 0, 0, 0)); err == nil {
		t.Fatal("a damaged frame decompressed")
	}
	if _, ok := c.get("bad"); ok {
		t.Fatal("a damaged frame was cached")
	}
	body := make([]byte, 1000)
	for i := range 1000 {
		c.put(fmt.Sprint(i), body)
		if _, ok := c.get(fmt.Sprint(i)); !ok {
			t.Fatalf("entry %d not kept", i)
		}
		held := 0
		for _, g := range []map[string][]byte{c.cur, c.old} {
			for _, b := range g {
				held += len(b)
			}
		}
		if held > c.max {
			t.Fatalf("after %d entries the cache holds %d bytes, over %d", i+1, held, c.max)
		}
	}
	if _, ok := c.get("998"); !ok {
		t.Fatal("a recent entry was dropped")
	}
	if _, ok := c.get("0"); ok {
		t.Fatal("the oldest entry is still held")
	}
}
