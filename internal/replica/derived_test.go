package replica

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/rpc"
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/message/messagetest"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetest"
)

// oldPeerSide is a Side whose users act as a peer of an earlier version:
// no Derived or PackedBodies call, and appends whose Derived and Packed
// fields it does not know (gob drops them; the engine sends it no packed
// body, since its Hello did not offer them).
type oldPeerSide struct{ Side }

func (s oldPeerSide) Open(ctx context.Context, user string, create bool) (User, error) {
	u, err := s.Side.Open(ctx, user, create)
	if err != nil {
		return nil, err
	}
	return oldPeerUser{u}, nil
}

type oldPeerUser struct{ User }

func (oldPeerUser) Derived(context.Context, []string) ([][]byte, error) {
	return nil, rpc.ServerError("rpc: can't find method Service.Derived")
}

func (oldPeerUser) PackedBodies(context.Context, []string) ([][]byte, error) {
	return nil, rpc.ServerError("rpc: can't find method Replica.PackedBodies")
}

func (oldPeerUser) TakesPacked() bool { return false }

func (u oldPeerUser) Apply(ctx context.Context, guid string, b Batch) (store.ApplyResult, error) {
	b.Appends = slices.Clone(b.Appends)
	for i := range b.Appends {
		b.Appends[i].Derived, b.Appends[i].Packed = nil, nil
	}
	return u.User.Apply(ctx, guid, b)
}

// TestSyncSendsDerived: bodies cross with what their sender derived from
// them, in both directions over the TLS transport, and the receiver does
// not parse them again; each replica then holds exactly what the other
// parsed at delivery (structure, envelope, preview, sort keys, text
// index). With a peer too old to hand out derived data, the receiver
// parses, and ends the same.
func TestSyncSendsDerived(t *testing.T) {
	for _, old := range []bool{false, true} {
		a, b := newNode(t, "a"), newNode(t, "b")
		r := rand.New(rand.NewPCG(3, 4))
		add := func(n *node, count int) {
			acct := n.acct("alice")
			in := n.mailbox("alice", "INBOX")
			var msgs []store.NewMessage
			for range count {
				msgs = append(msgs, store.NewMessage{Body: bytes.NewReader(messagetest.Message(r))})
			}
			if _, err := acct.Append(ctx, in.ID, msgs); err != nil {
				t.Fatal(err)
			}
		}
		add(a, 30)
		addr := serve(t, b, "0123456789abcdef")
		var peer Side = dial(t, a, addr, "0123456789abcdef")
		if old {
			peer = oldPeerSide{peer}
		}
		st, err := Sync(ctx, a.side, peer, Options{})
		if err != nil {
			t.Fatal(err)
		}
		add(b, 20) // after B's INBOX took A's identity: the next sync brings them to A
		st2, err := Sync(ctx, a.side, peer, Options{})
		if err != nil {
			t.Fatal(err)
		}
		st.add(st2)
		want := 0
		if !old {
			want = 50
		}
		if st.Bodies != 50 || st.Derived != want {
			t.Fatalf("old peer %v: %d bodies sent, %d not parsed again, want 50 and %d", old, st.Bodies, st.Derived, want)
		}
		assertSame(t, "alice", true, a, b)
		va := storetest.DerivedView(t, a.acct("alice"), a.mailbox("alice", "INBOX").ID)
		vb := storetest.DerivedView(t, b.acct("alice"), b.mailbox("alice", "INBOX").ID)
		if va != vb {
			t.Fatalf("old peer %v: A and B derived differently:\n%s\n--- vs ---\n%s", old, va, vb)
		}
	}
}
