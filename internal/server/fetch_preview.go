package server

import (
	"fmt"
	"strings"
	"sync"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// FETCH PREVIEW (RFC 8970). The preview is computed at delivery and
// stored with the message (store.MessageData.Preview), as RFC 8970
// recommends. A message stored before the store kept previews has it
// computed on FETCH from the stored structure and the bytes of the one
// part it comes from (message.Preview), kept in memory with the open
// mailbox (previewCache), so a client that asks again for the same
// messages gets them without another read. LAZY (RFC 8970 4.1) is
// accepted and answered like PREVIEW: computing costs one part read, no
// undue delay, so NIL is never sent.
func init() {
	addCapability("PREVIEW", nil)
}

// readPreview reads what follows the PREVIEW item: an optional
// "(" preview-mod *(SP preview-mod) ")" whose one modifier is LAZY.
func readPreview(d *wire.Decoder, r *fetchRequest) error {
	it := fetchItem{kind: fetchPreview, name: "PREVIEW"}
	if d.Next(" (") {
		d.Special(' ')
		err := d.List(func() error {
			m, err := d.Atom()
			if err != nil {
				return err
			}
			if !strings.EqualFold(m, "LAZY") {
				return Bad("", "Unknown PREVIEW modifier "+m)
			}
			it.lazy = true
			return nil
		})
		if err != nil {
			return err
		}
		if !it.lazy {
			return Bad("", "PREVIEW needs a modifier inside its parentheses") // RFC 8970 6
		}
	}
	r.add(it)
	return nil
}

// previewCacheMax bounds the previews kept with one open mailbox (about
// 250 bytes each at most).
const previewCacheMax = 100_000

// previewCache holds the previews computed for one open mailbox, by UID: a
// message's bytes never change, so an entry never goes stale.
type previewCache struct {
	mu sync.Mutex
	m  map[store.UID]string // guarded by mu
}

type previewCacheKey struct{}

func (s *Session) previewCache() *previewCache {
	if s.box == nil {
		return nil
	}
	return s.box.Derived(previewCacheKey{}, func() any {
		return &previewCache{m: make(map[store.UID]string)}
	}).(*previewCache)
}

// preview returns a message's preview: stored, from the cache, or
// computed from its bytes, opened with open.
func (f *fetcher) preview(m *store.MessageData, open func() (store.Blob, error)) (string, error) {
	if m.HasPreview {
		return m.Preview, nil
	}
	c := f.s.previewCache()
	if c != nil {
		c.mu.Lock()
		p, ok := c.m[m.UID]
		c.mu.Unlock()
		if ok {
			return p, nil
		}
	}
	blob, err := open()
	if err != nil {
		return "", err
	}
	p, err := message.Preview(m.Structure, blob)
	if err != nil {
		return "", fmt.Errorf("preview: %w", err)
	}
	if c != nil {
		c.mu.Lock()
		if len(c.m) >= previewCacheMax {
			clear(c.m)
		}
		c.m[m.UID] = p
		c.mu.Unlock()
	}
	return p, nil
}
