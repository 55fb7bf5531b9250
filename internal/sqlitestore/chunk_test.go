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
