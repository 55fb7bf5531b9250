package storetest

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/message/messagetest"
	"github.com/tidemark-mail/tidemark/internal/sortthread"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// testSummary: what a store keeps at delivery for SORT, THREAD and PREVIEW
// (store.KeysReader; MessageData.Preview from ReadMessages, stored or
// computed by the store) equals what the readers compute from the stored
// structure and bytes, for random messages, their copies,
// after expunges, and for any set of UIDs asked.
func testSummary(t *testing.T, b Backend) {
	_, a := b.newAccount(t)
	kr, ok := a.(store.KeysReader)
	if !ok {
		t.Skip("the store keeps no sort keys")
	}
	r := rand.New(rand.NewPCG(5, 21))
	inbox := MustMailbox(t, a, "INBOX")
	var msgs []store.NewMessage
	for range 80 {
		msgs = append(msgs, store.NewMessage{Body: bytes.NewReader(messagetest.Message(r))})
	}
	msgs = append(msgs, store.NewMessage{Body: bytes.NewReader([]byte("Subject: Re: [x] only a header\r\n\r\n"))})
	if _, err := a.Append(ctx, inbox.ID, msgs); err != nil {
		t.Fatal(err)
	}
	other, err := a.CreateMailbox(ctx, "Other", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Copy(ctx, inbox.ID, other.ID, store.UIDSet{{Start: 5, Stop: 30}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 10, Stop: 19}, {Start: 70, Stop: 70}}); err != nil {
		t.Fatal(err)
	}
	all := store.UIDSet{{Start: 1, Stop: store.MaxUID - 1}}
	var odd store.UIDSet // more ranges than a store reads one by one
	for u := store.UID(1); u < 90; u += 2 {
		odd.Add(u)
	}
	for _, id := range []store.MailboxID{inbox.ID, other.ID} {
		want := map[store.UID]sortthread.Msg{}
		pvs := map[store.UID]string{}
		err := a.Messages(ctx, id, all, func(md *store.MessageData) error {
			want[md.UID] = sortthread.FromMessage(md)
			pvs[md.UID] = computedPreview(t, a, md)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// What FETCH PREVIEW reads, kept at delivery or computed by the
		// store from the bytes it reads with the row.
		err = a.ReadMessages(ctx, id, all, store.FieldStructure|store.FieldPreview, func(md *store.MessageData) error {
			if pv := pvs[md.UID]; !md.HasPreview || md.Preview != pv {
				t.Errorf("UID %d: preview %q (%v), computed %q", md.UID, md.Preview, md.HasPreview, pv)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, set := range []store.UIDSet{all, odd} {
			seen := 0
			var last store.UID
			err := kr.MessageKeys(ctx, id, set, func(k *store.MessageKeys) error {
				if !set.Contains(k.UID) || k.UID <= last {
					t.Fatalf("UID %d asked %v, after %d", k.UID, set, last)
				}
				last = k.UID
				w, ok := want[k.UID]
				if !ok {
					t.Fatalf("UID %d is not in the mailbox", k.UID)
				}
				got, err := sortthread.DecodeKeys(k.Keys, k.UID, k.InternalDate, k.Size)
				if err != nil {
					t.Fatalf("UID %d: %v", k.UID, err)
				}
				if !reflect.DeepEqual(got, w) {
					t.Fatalf("UID %d:\nstored   %+v\ncomputed %+v", k.UID, got, w)
				}
				seen++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for u := range want {
				if set.Contains(u) {
					n++
				}
			}
			if seen != n {
				t.Fatalf("mailbox %v, %v: %d keys, want %d", id, set, seen, n)
			}
		}
	}
}
