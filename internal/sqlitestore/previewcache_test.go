package sqlitestore

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestPreviewCache: the previews FETCH computes are kept by blob id, and a
// later read gives the same ones from the cache, for bodies kept inline
// and in blob files alike.
func TestPreviewCache(t *testing.T) {
	for _, opts := range []Options{{}, {InlineBodyMax: -1}} {
		_, a := newAccountWith(t, opts)
		inbox := mustMailbox(t, a, "INBOX")
		var msgs []store.NewMessage
		want := map[store.UID]string{}
		for i := range 30 {
			body := fmt.Sprintf("From: a@example.org\r\nSubject: m%d\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>%d</b> %s</p>\r\n", i, i, strings.Repeat("word ", i))
			msgs = append(msgs, store.NewMessage{Body: strings.NewReader(body)})
			st, err := message.Parse(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			pv, err := message.Preview(st, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			want[store.UID(i+1)] = pv
		}
		if _, err := a.Append(ctx, inbox.ID, msgs); err != nil {
			t.Fatal(err)
		}
		for round := range 2 {
			n := 0
			err := a.ReadMessages(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}}, store.FieldPreview, func(m *store.MessageData) error {
				n++
				if !m.HasPreview || m.Preview != want[m.UID] {
					t.Errorf("round %d, UID %d: preview %q (%v), want %q", round, m.UID, m.Preview, m.HasPreview, want[m.UID])
				}
				return nil
			})
			if err != nil || n != len(msgs) {
				t.Fatalf("round %d: %d messages, %v", round, n, err)
			}
			if got := len(a.u.previews.m); got != len(msgs) {
				t.Fatalf("round %d: %d previews kept, want %d", round, got, len(msgs))
			}
		}
		// What is kept is what a read gives.
		one := store.UIDSet{{Start: 1, Stop: 1}}
		var blobID string
		read := func() (pv string) {
			err := a.ReadMessages(ctx, inbox.ID, one, store.FieldPreview, func(m *store.MessageData) error {
				blobID, pv = m.BlobID, m.Preview
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return pv
		}
		read()
		a.u.previews.put(blobID, "kept")
		if pv := read(); pv != "kept" {
			t.Fatalf("preview %q, not the one kept", pv)
		}
	}
}
