package pgstore

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// benchAccount returns alice's INBOX holding n small messages.
func benchAccount(b *testing.B, n int) (store.Account, store.MailboxInfo) {
	b.Helper()
	s := openTest(b, pgtest.DSN(b), Options{NoListen: true})
	if err := s.CreateUser(ctx, "alice"); err != nil {
		b.Fatal(err)
	}
	a, err := s.Open(ctx, "alice")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	inbox, _ := a.Mailbox(ctx, "INBOX")
	for i := 0; i < n; i += 1000 {
		var msgs []store.NewMessage
		for j := i; j < min(n, i+1000); j++ {
			msgs = append(msgs, store.NewMessage{Body: strings.NewReader(fmt.Sprintf("Subject: %d\r\nMessage-ID: <%d@b>\r\n\r\nbody %d\r\n", j, j, j))})
		}
		if _, err := a.Append(ctx, inbox.ID, msgs); err != nil {
			b.Fatal(err)
		}
	}
	return a, inbox
}

// BenchmarkSetFlags10k: STORE 1:* +FLAGS / -FLAGS over 10,000 messages,
// one transaction each.
func BenchmarkSetFlags10k(b *testing.B) {
	a, inbox := benchAccount(b, 10000)
	all := store.UIDSet{{Start: 1, Stop: store.MaxUID}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		op := store.FlagsAdd
		if i%2 == 1 {
			op = store.FlagsRemove
		}
		if _, err := a.SetFlags(ctx, inbox.ID, all, op, store.Flags{System: store.FlagFlagged}, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend100: one Append of 100 small messages.
func BenchmarkAppend100(b *testing.B) {
	a, inbox := benchAccount(b, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var msgs []store.NewMessage
		for j := 0; j < 100; j++ {
			msgs = append(msgs, store.NewMessage{Body: strings.NewReader(fmt.Sprintf("Subject: %d-%d\r\n\r\nbody\r\n", i, j))})
		}
		if _, err := a.Append(ctx, inbox.ID, msgs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChangesSince10k: what changed after one flag change, in a
// mailbox of 10,000 messages: an index range scan.
func BenchmarkChangesSince10k(b *testing.B) {
	a, inbox := benchAccount(b, 10000)
	r, err := a.SetFlags(ctx, inbox.ID, store.UIDSetOf(5000), store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ch, err := a.ChangesSince(ctx, inbox.ID, r.ModSeq-1)
		if err != nil || len(ch.Changed) != 1 {
			b.Fatalf("%+v %v", ch, err)
		}
	}
}
