package view

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/msglist"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestLargeViewFollowsModel runs a view of several chunks' worth of
// messages (internal/msglist) through random arrivals, flag changes and
// expunges, held and released, and checks every EXPUNGE sequence number,
// EXISTS count and FETCH sequence number against a plain array whose
// EXPUNGEs are applied one by one, as a client reads them. A view shares
// its first UID list with another holder, which must never see it change.
func TestLargeViewFollowsModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	var model []store.UID
	for u := store.UID(1); u <= 3*msglist.ChunkMax+100; u++ {
		model = append(model, u)
	}
	owner := msglist.UIDs(slices.Clone(model))
	v := NewFromList(store.MailboxInfo{ID: 1, HighestModSeq: 1}, owner.Share(), nil, false)
	ownerWas := owner.Slice()
	next := store.UID(len(model) + 1)
	modseq := store.ModSeq(1)
	expunged := map[store.UID]bool{}
	for step := range 300 {
		modseq++
		ch := store.Changes{Mailbox: store.MailboxInfo{ID: 1, HighestModSeq: modseq}, Exact: true}
		for range rng.IntN(12) {
			u := model[rng.IntN(len(model))]
			if !expunged[u] {
				expunged[u] = true
				ch.Vanished.Add(u)
			}
		}
		var flagged store.UIDSet
		for range rng.IntN(5) {
			u := model[rng.IntN(len(model))]
			if !expunged[u] && !flagged.Contains(u) {
				flagged.Add(u)
			}
		}
		for _, u := range flagged.UIDs() {
			ch.Changed = append(ch.Changed, store.MessageState{UID: u, ModSeq: modseq})
		}
		var arrived []store.UID
		for range rng.IntN(3) {
			ch.Changed = append(ch.Changed, store.MessageState{UID: next, ModSeq: modseq})
			arrived = append(arrived, next)
			next++
		}
		allow := rng.IntN(3) == 0
		ups := v.Apply(ch, SyncOptions{AllowExpunge: allow})
		for _, up := range ups {
			switch up.Kind {
			case UpdateExpunge:
				if up.Seq == 0 || int(up.Seq) > len(model) || !expunged[model[up.Seq-1]] {
					t.Fatalf("step %d: EXPUNGE %d names a message not expunged", step, up.Seq)
				}
				delete(expunged, model[up.Seq-1])
				model = slices.Delete(model, int(up.Seq-1), int(up.Seq))
			case UpdateExists:
				model = append(model, arrived...)
				if len(model) != int(up.Count) {
					t.Fatalf("step %d: EXISTS %d, the client counts %d", step, up.Count, len(model))
				}
			case UpdateFetch:
				if int(up.Seq) > len(model) || model[up.Seq-1] != up.Msg.UID {
					t.Fatalf("step %d: FETCH %d for UID %d", step, up.Seq, up.Msg.UID)
				}
			}
		}
		if allow && len(expunged) != 0 {
			t.Fatalf("step %d: %d expunges still held after a sync that allowed them", step, len(expunged))
		}
		if int(v.Exists()) != len(model) {
			t.Fatalf("step %d: EXISTS %d, the client counts %d", step, v.Exists(), len(model))
		}
		for range 5 {
			seq := 1 + rng.IntN(len(model))
			if u, _ := v.UID(uint32(seq)); u != model[seq-1] {
				t.Fatalf("step %d: sequence %d is UID %d, the client has %d", step, seq, u, model[seq-1])
			}
		}
		if got := owner.Slice(); !slices.Equal(got, ownerWas) {
			t.Fatalf("step %d: the list the view was built from changed", step)
		}
	}
}
