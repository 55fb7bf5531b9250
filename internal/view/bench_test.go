package view

import (
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

func bigSnapshot(n int) store.Snapshot {
	s := store.Snapshot{Mailbox: store.MailboxInfo{ID: 1, HighestModSeq: 10}}
	s.Messages = make([]store.MessageState, n)
	for i := range s.Messages {
		s.Messages[i] = msg(store.UID(2*i+1), 1)
	}
	return s
}

// BenchmarkNew100k is the view side of SELECT of a 100,000-message mailbox.
func BenchmarkNew100k(b *testing.B) {
	snap := bigSnapshot(100_000)
	b.ReportAllocs()
	for b.Loop() {
		New(snap, false)
	}
}

// BenchmarkSeqSetAll100k resolves "1:*" over 100,000 messages.
func BenchmarkSeqSetAll100k(b *testing.B) {
	v := New(bigSnapshot(100_000), false)
	set := wire.SeqSet{Ranges: []wire.SeqRange{{Start: 1, Stop: wire.Star}}}
	b.ReportAllocs()
	for b.Loop() {
		v.SeqSetUIDs(set)
	}
}

// BenchmarkApply100Changes100k applies 100 flag changes to a 100,000-message view.
func BenchmarkApply100Changes100k(b *testing.B) {
	snap := bigSnapshot(100_000)
	var ch store.Changes
	ch.Mailbox = store.MailboxInfo{ID: 1, HighestModSeq: 11}
	for i := 0; i < 100; i++ {
		ch.Changed = append(ch.Changed, msg(store.UID(2*i*997%200_000+1), 11))
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		v := New(snap, false)
		b.StartTimer()
		v.Apply(ch, SyncOptions{AllowExpunge: true})
	}
}
