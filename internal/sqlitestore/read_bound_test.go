package sqlitestore

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestMessagesPageBytes: messages whose stored structures are big end a
// page of Messages early (messagesPageBytes); every message is still
// visited once, in order, and its part tree is built only on demand.
func TestMessagesPageBytes(t *testing.T) {
	_, a := newAccount(t)
	inbox := mustMailbox(t, a, "INBOX")
	// Each To: header of ~200 KB makes a stored structure of ~300 KB.
	to := "To: " + strings.Repeat("x@y, ", 40_000) + "z@y\r\n"
	const n = 40 // 40 × ~300 KB is three pages by bytes, one by count
	var msgs []store.NewMessage
	for i := range n {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(testMessage(i, to))})
	}
	if _, err := a.Append(ctx, inbox.ID, msgs); err != nil {
		t.Fatal(err)
	}
	var all store.UIDSet
	all.AddRange(1, store.MaxUID)
	var seen []store.UID
	err := a.Messages(ctx, inbox.ID, all, func(m *store.MessageData) error {
		seen = append(seen, m.UID)
		if m.Structure.Body != nil {
			return fmt.Errorf("UID %d: part tree decoded before it was asked for", m.UID)
		}
		if r := m.Structure.Root(); r == nil || r.EndOffset != m.Size {
			return fmt.Errorf("UID %d: bad root %+v", m.UID, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("visited %d messages, want %d", len(seen), n)
	}
	for i, u := range seen {
		if u != store.UID(i+1) {
			t.Fatalf("visit %d is UID %d", i, u)
		}
	}
}
