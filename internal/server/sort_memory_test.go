package server

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/corpus"
	"github.com/tidemark-mail/tidemark/internal/loadtest"
	"github.com/tidemark-mail/tidemark/internal/sortthread"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestSortKeysMemory bounds what the sort keys cached with an open
// mailbox hold: on the benchmark corpus, well under the stored structure
// a key was made from (about 1,100 bytes a message were held when the
// keys kept the structures' buffers alive; 376 since).
func TestSortKeysMemory(t *testing.T) {
	msgs, err := loadtest.ReadMbox(corpus.Path())
	if err != nil {
		if corpus.Required() {
			t.Fatal(err)
		}
		t.Skipf("no corpus: %v", err)
	}
	env := newTestEnv(t, nil)
	a := env.account()
	ctx := context.Background()
	mb, _ := a.Mailbox(ctx, "INBOX")
	const copies = 4
	for range copies {
		var batch []store.NewMessage
		for _, m := range msgs {
			batch = append(batch, store.NewMessage{Body: bytes.NewReader(m)})
		}
		if _, err := a.Append(ctx, mb.ID, batch); err != nil {
			t.Fatal(err)
		}
	}
	n := copies * len(msgs)
	var all store.UIDSet
	all.AddRange(1, store.UID(n))
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	c := sortthread.NewCache()
	got, err := c.Keys(all.UIDs(), n, func(missing store.UIDSet, add func(sortthread.Msg)) error {
		return a.Messages(ctx, mb.ID, missing, func(md *store.MessageData) error {
			add(sortthread.FromMessage(md))
			return nil
		})
	})
	if err != nil || len(got) != n {
		t.Fatalf("keys: %d, %v", len(got), err)
	}
	got = nil
	runtime.GC()
	runtime.ReadMemStats(&ms)
	per := (int64(ms.HeapAlloc) - int64(before)) / int64(n)
	t.Logf("%d keys: %d bytes of heap a message", n, per)
	if per > 700 {
		t.Errorf("the cached keys hold %d bytes a message, want under 700", per)
	}
	runtime.KeepAlive(c)
}
