package sqlitestore

import (
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func TestChunkRoundTrip(t *testing.T) {
	es := []entry{
		{uid: 1, flags: store.FlagSeen, kw: 0, modseq: 7},
		{uid: 2, flags: 0, kw: 3, modseq: 1},
		{uid: 300, flags: allSystemFlags, kw: 1 << 20, modseq: 9},
		{uid: store.MaxUID, flags: store.FlagDraft, kw: 1<<32 - 1, modseq: 9},
	}
	data := encodeChunk(nil, es, 9)
	got, err := decodeEntries(data, 9, nil)
	if err != nil || !slices.Equal(got, es) {
		t.Fatalf("decoded %v, %v; want %v", got, err, es)
	}
	// Consecutive UIDs at one modseq without keywords: 4 bytes a message.
	var run []entry
	for u := store.UID(1000); u < 1256; u++ {
		run = append(run, entry{uid: u, modseq: 5})
	}
	if n := len(encodeChunk(nil, run, 5)); n != 5+4*255 { // the first UID takes 2 bytes
		t.Fatalf("256 consecutive entries take %d bytes", n)
	}
}

func TestChunkRejectsMalformed(t *testing.T) {
	good := encodeChunk(nil, []entry{{uid: 5, modseq: 3}, {uid: 6, modseq: 2}}, 3)
	for name, data := range map[string][]byte{
		"truncated":          good[:len(good)-1],
		"UID not ascending":  {5, 0, 0, 0, 0, 0, 0, 0},
		"modseq zero":        {5, 3, 0, 0},
		"UID beyond 32 bits": {0x80, 0x80, 0x80, 0x80, 0x10, 0, 0, 0},
	} {
		if _, err := decodeEntries(data, 3, nil); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// FuzzDecodeChunk checks that any bytes either fail to decode or decode to
// entries that keep the chunk invariants: UIDs ascending, modseqs in
// 1..max_modseq.
func FuzzDecodeChunk(f *testing.F) {
	f.Add(encodeChunk(nil, []entry{{uid: 1, modseq: 2, kw: 4, flags: 3}, {uid: 9, modseq: 1}}, 2), uint64(2))
	f.Add([]byte{}, uint64(1))
	f.Fuzz(func(t *testing.T, data []byte, maxModSeq uint64) {
		es, err := decodeEntries(data, store.ModSeq(maxModSeq), nil)
		if err != nil {
			return
		}
		for i := 1; i < len(es); i++ {
			if es[i].uid <= es[i-1].uid {
				t.Fatalf("UIDs not ascending: %v", es)
			}
		}
		for _, e := range es {
			if e.modseq == 0 || e.modseq > store.ModSeq(maxModSeq) {
				t.Fatalf("modseq %d outside 1..%d", e.modseq, maxModSeq)
			}
		}
	})
}

func chunkRows(t *testing.T, a *Account, id store.MailboxID) int {
	t.Helper()
	var n int
	if err := a.u.r.QueryRowContext(ctx, `SELECT count(*) FROM message_chunks WHERE mailbox_id = ?`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestExpungeMergesChunks expunges nine messages in ten: the survivors
// are packed into as few chunks as fit, and the mailbox stays intact.
func TestExpungeMergesChunks(t *testing.T) {
	withChunkMax(t, 4)
	s, a := newAccount(t)
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 100, store.Flags{})
	if n := chunkRows(t, a, inbox.ID); n != 25 {
		t.Fatalf("%d chunks for 100 messages", n)
	}
	var gone store.UIDSet
	for u := store.UID(1); u <= 100; u++ {
		if u%10 != 0 {
			gone.Add(u)
		}
	}
	if _, err := a.Expunge(ctx, inbox.ID, gone); err != nil {
		t.Fatal(err)
	}
	if n := chunkRows(t, a, inbox.ID); n != 3 {
		t.Fatalf("%d chunks for 10 messages", n)
	}
	snap, err := a.Snapshot(ctx, inbox.ID)
	if err != nil || len(snap.Messages) != 10 || snap.Messages[9].UID != 100 {
		t.Fatalf("snapshot %+v, %v", snap.Messages, err)
	}
	assertClean(t, s, "alice")

	// Chunks 1:4, 5:8, 9:12. Expunging 1:3 and 10:12 loads only the first
	// and the last, which would fit in one, but 5:8 lies between them.
	box, err := a.CreateMailbox(ctx, "box", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, a, box.ID, 12, store.Flags{})
	if _, err := a.Expunge(ctx, box.ID, store.UIDSet{{Start: 1, Stop: 3}, {Start: 10, Stop: 12}}); err != nil {
		t.Fatal(err)
	}
	if n := chunkRows(t, a, box.ID); n != 3 {
		t.Fatalf("%d chunks, want 3", n)
	}
	assertClean(t, s, "alice")
}
