package quota

import (
	"context"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// BenchmarkCheckQuota is the cost added to each APPEND, COPY and delivery
// of a user with limits: an account handle and one sum over the mailbox
// counters. The caller (an IMAP session, an LMTP recipient) holds the
// user's store open, as in the server, so the handle is shared.
func BenchmarkCheckQuota(b *testing.B) {
	st, err := openStoreB(b)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	a, _ := st.Open(ctx, "alice")
	for i := range 20 {
		mb, err := a.CreateMailbox(ctx, "box"+strings.Repeat("x", i), store.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		a.Append(ctx, mb.ID, []store.NewMessage{{Body: strings.NewReader("Subject: x\r\n\r\nx\r\n")}})
	}
	defer a.Close()
	m, _ := New(st, Config{Default: Limits{StorageBytes: 1 << 30, Messages: 1 << 20}})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := m.CheckQuota(ctx, "alice", 1000, 1); err != nil {
			b.Fatal(err)
		}
	}
}
