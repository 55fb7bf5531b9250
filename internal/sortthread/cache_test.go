package sortthread

import (
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func TestCache(t *testing.T) {
	c := NewCache()
	var asked []store.UIDSet
	load := func(missing store.UIDSet, add func(Msg)) error {
		asked = append(asked, missing)
		for _, r := range missing {
			for u := r.Start; u <= r.Stop; u++ {
				if u != 3 { // 3 was expunged meanwhile
					add(Msg{UID: u, Size: int64(u)})
				}
			}
		}
		return nil
	}
	got, err := c.Keys([]store.UID{1, 2, 3, 4}, 4, load)
	if err != nil || len(got) != 3 || got[2].UID != 4 {
		t.Fatalf("Keys = %v, %v", got, err)
	}
	got, _ = c.Keys([]store.UID{2, 4, 5}, 4, load)
	if len(got) != 3 || got[0].UID != 2 || got[2].UID != 5 {
		t.Fatalf("Keys = %v", got)
	}
	if len(asked) != 2 || asked[1].String() != "5" {
		t.Fatalf("loads %v: want 1:4 then only 5", asked)
	}

	at := MemoAt{ModSeq: 7, Highest: 5}
	c.SetMemo("SORT 1", at, "answer")
	if v, ok := c.Memo("SORT 1", at); !ok || v != "answer" {
		t.Fatalf("Memo at the same state = %v, %v", v, ok)
	}
	if _, ok := c.Memo("SORT 1", MemoAt{ModSeq: 8, Highest: 5}); ok {
		t.Fatal("Memo answered for a later modseq")
	}
	if _, ok := c.Memo("SORT 1", MemoAt{ModSeq: 7, Highest: 4}); ok {
		t.Fatal("Memo answered for a view holding fewer messages")
	}
	if _, ok := c.Memo("SORT 2", at); ok {
		t.Fatal("Memo answered another request")
	}
	c.SetMemo("SORT 2", MemoAt{ModSeq: 8, Highest: 5}, "new")
	if _, ok := c.Memo("SORT 1", at); ok {
		t.Fatal("an answer of an older state was kept")
	}
}
