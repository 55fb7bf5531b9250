package storetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/derived"
	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/message/messagetest"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// testReplicaDerived: bodies appended through a Replica with what the
// sender derived from them (store.DerivedReader, ReplicaMessage.Derived)
// are not parsed again, and read back exactly as the parsed originals:
// structure, envelope, sort keys, preview and text index. A payload that
// is not the bytes' own (damaged, cut short, of another message) is not
// trusted: those bodies are parsed. One sealed for the bytes is kept as
// it is, which forged sort keys show; one without a preview gets it
// computed.
func testReplicaDerived(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	dr, ok := r.(store.DerivedReader)
	if !ok {
		t.Skip("the store hands out no derived data")
	}
	rnd := rand.New(rand.NewPCG(8, 13))
	var bodies [][]byte
	for range 40 {
		bodies = append(bodies, messagetest.Message(rnd))
	}
	bodies = append(bodies, []byte("Subject: only a header\r\n\r\n"),
		[]byte("From: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\nSubject: =?iso-8859-1?q?caf=E9?=\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nna=EFve r=E9sum=E9\r\n"),
		// Two of the same length: only the content hash tells their
		// payloads apart.
		[]byte("Subject: first of a pair\r\n\r\nbody one\r\n"),
		[]byte("Subject: other of a pair\r\n\r\nbody two\r\n"))
	pair := len(bodies) - 2
	inbox := MustMailbox(t, a, "INBOX")
	var msgs []store.NewMessage
	hashes := make([]string, len(bodies))
	for i, b := range bodies {
		msgs = append(msgs, store.NewMessage{Body: bytes.NewReader(b)})
		hashes[i] = hashOf(string(b))
	}
	if _, err := a.Append(ctx, inbox.ID, msgs); err != nil {
		t.Fatal(err)
	}
	payloads, err := dr.Derived(ctx, append(slices.Clone(hashes), hashOf("not stored")))
	if err != nil {
		t.Fatal(err)
	}
	if len(payloads) != len(bodies)+1 || payloads[len(bodies)] != nil {
		t.Fatalf("%d payloads, the last (a content not stored) %v", len(payloads), payloads[len(payloads)-1] != nil)
	}
	for i, p := range payloads[:len(bodies)] {
		if _, _, ok := derived.Open(p, hashes[i], int64(len(bodies[i]))); !ok {
			t.Fatalf("message %d: the store's own payload does not open", i+1)
		}
	}
	// apply appends every body to a new mailbox with the payloads
	// payload(i) gives, and returns the mailbox and how many the store
	// kept instead of parsing.
	uv := uint32(7000)
	apply := func(name string, payload func(i int) []byte) (store.MailboxID, int) {
		t.Helper()
		uv++
		mb, err := r.CreateMailbox(ctx, name, uv, store.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var b store.Batch
		for i, body := range bodies {
			b.Append = append(b.Append, store.ReplicaMessage{Body: bytes.NewReader(body), ContentHash: hashes[i], Derived: payload(i)})
		}
		res, err := r.Apply(ctx, mb.ID, b)
		if err != nil {
			t.Fatal(err)
		}
		return mb.ID, res.Derived
	}
	want := DerivedView(t, a, inbox.ID)

	kept, n := apply("kept", func(i int) []byte { return payloads[i] })
	if n != len(bodies) {
		t.Fatalf("the store kept %d payloads of %d", n, len(bodies))
	}
	if got := DerivedView(t, a, kept); got != want {
		t.Fatalf("with the sender's derived data:\n%s\n--- parsed ---\n%s", got, want)
	}

	untrusted := map[string]func(i int) []byte{
		"damaged": func(i int) []byte {
			p := slices.Clone(payloads[i])
			p[len(p)/2] ^= 0x20
			return p
		},
		"cut": func(i int) []byte { return payloads[i][:len(payloads[i])-1] },
		"other message's": func(i int) []byte {
			if i >= pair {
				return payloads[pair+(i-pair+1)%2]
			}
			return payloads[(i+1)%len(bodies)]
		},
		"garbage": func(i int) []byte { return []byte("not a payload") },
	}
	for name, payload := range untrusted {
		id, n := apply(strings.ReplaceAll(name, " ", "-"), payload)
		if n != 0 {
			t.Fatalf("%s payloads: the store kept %d", name, n)
		}
		if got := DerivedView(t, a, id); got != want {
			t.Fatalf("%s payloads:\n%s\n--- parsed ---\n%s", name, got, want)
		}
	}

	// A payload sealed for the bytes is kept as it is: the store does not
	// parse them (which would give their own sort keys), here with the
	// keys of another message.
	d, _, _ := derived.Open(payloads[0], hashes[0], int64(len(bodies[0])))
	other, _, _ := derived.Open(payloads[1], hashes[1], int64(len(bodies[1])))
	d.SortKeys = other.SortKeys
	sealed := derived.Seal(hashes[0], d)
	id, n := apply("forged", func(i int) []byte {
		if i == 0 {
			return sealed
		}
		return nil
	})
	if n != 1 {
		t.Fatalf("forged: the store kept %d payloads, want 1", n)
	}
	if kr, ok := a.(store.KeysReader); ok {
		err := kr.MessageKeys(ctx, id, store.UIDSetOf(1), func(k *store.MessageKeys) error {
			if !bytes.Equal(k.Keys, other.SortKeys) {
				t.Errorf("sort keys %x, want the payload's %x", k.Keys, other.SortKeys)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	// A payload without a preview (a sender that keeps none) is kept, and
	// the preview computed: the mailbox reads as the parsed one.
	noPreview, n := apply("no-preview", func(i int) []byte {
		d, _, _ := derived.Open(payloads[i], hashes[i], int64(len(bodies[i])))
		d.Preview = nil
		return derived.Seal(hashes[i], d)
	})
	if n != len(bodies) {
		t.Fatalf("payloads without a preview: the store kept %d of %d", n, len(bodies))
	}
	if got := DerivedView(t, a, noPreview); got != want {
		t.Fatalf("payloads without a preview:\n%s\n--- parsed ---\n%s", got, want)
	}
}

// DerivedView describes what a store derived from the messages of a
// mailbox: the stored structure, the preview, the sort keys and, for
// needles found in the messages, the text index's answers.
func DerivedView(t testing.TB, a store.Account, id store.MailboxID) string {
	t.Helper()
	var b strings.Builder
	words := map[string]bool{}
	err := a.Messages(ctx, id, store.UIDSet{{Start: 1, Stop: store.MaxUID - 1}}, func(m *store.MessageData) error {
		raw, err := m.Structure.Marshal()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%d %x %q %v\n", m.UID, raw, m.Preview, m.HasPreview)
		for _, w := range strings.Fields(m.Structure.Search.Subject + " " + m.Preview) {
			if len(w) >= 4 && len(words) < 30 {
				words[message.Fold(w)] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if kr, ok := a.(store.KeysReader); ok {
		err := kr.MessageKeys(ctx, id, store.UIDSet{{Start: 1, Stop: store.MaxUID - 1}}, func(k *store.MessageKeys) error {
			fmt.Fprintf(&b, "keys %d %x\n", k.UID, k.Keys)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	needles := make([]string, 0, len(words))
	for w := range words {
		needles = append(needles, w)
	}
	slices.Sort(needles)
	for _, w := range needles {
		for _, f := range []store.TextField{store.TextText, store.TextBody, store.TextSubject, store.TextFrom} {
			h, err := store.SearchText(ctx, a, id, f, w, store.UIDSet{{Start: 1, Stop: store.MaxUID - 1}})
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "search %d %q: %v %v %v\n", f, w, h.OK, h.Sure, h.Maybe)
		}
	}
	return b.String()
}
