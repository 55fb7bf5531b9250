package sortthread

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// benchMsgs is n messages shaped like a mailbox filled by cycling a 2,000
// message corpus: every Message-ID repeats, a third are replies.
func benchMsgs(n int) []*Msg {
	rnd := rand.New(rand.NewPCG(1, 1))
	msgs := make([]*Msg, n)
	for i := range msgs {
		k := i % 2000
		m := &Msg{UID: store.UID(i + 1), Sent: int64(rnd.IntN(1 << 20)), MessageID: fmt.Sprintf("m%d@x", k)}
		m.Subject = Casemap(fmt.Sprintf("subject %d", k%300))
		if k%3 == 1 {
			m.Refs = []string{fmt.Sprintf("m%d@x", k-1)}
			m.ReplyOrFwd = true
		}
		msgs[i] = m
	}
	return msgs
}

func BenchmarkThreadReferences100k(b *testing.B) {
	msgs := benchMsgs(100_000)
	b.ReportAllocs()
	for b.Loop() {
		Thread(msgs, References)
	}
}

func BenchmarkSortDate100k(b *testing.B) {
	msgs := benchMsgs(100_000)
	b.ReportAllocs()
	for b.Loop() {
		Sort(msgs, []Criterion{{Key: Date}})
	}
}

func BenchmarkFormat100k(b *testing.B) {
	roots := Thread(benchMsgs(100_000), References)
	b.ReportAllocs()
	for b.Loop() {
		Format(roots, func(u store.UID) (uint32, bool) { return uint32(u), true })
	}
}
