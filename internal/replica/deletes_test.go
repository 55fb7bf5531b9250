package replica

import (
	"errors"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestThreeDeleteNeverSynced: n1 makes mailbox "m" with messages 1 and 2
// and syncs it with n0 and n2, which never sync it with each other. n0
// expunges 1 and deletes "m"; n2 meanwhile gets 3 in "m". When n2 meets
// n0, the messages n0 had seen (1, which it expunged, and 2) go, and 3,
// which n0 never saw, stays, with the mailbox: after settling, every
// replica holds "m" with 3 only. Before, n2 had no point of convergence
// with n0 for "m", counted every message as unseen by n0 and kept the
// mailbox whole, undoing the delete and bringing 1 back.
func TestThreeDeleteNeverSynced(t *testing.T) {
	n0, n1, n2 := newNode(t, "n0"), newNode(t, "n1"), newNode(t, "n2")
	n1.acct("alice")
	syncNodes(t, n0, n1)
	syncNodes(t, n1, n2)
	if _, err := n1.acct("alice").CreateMailbox(ctx, "m", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	n1.append("alice", "m", msg(1), store.Flags{})
	n1.append("alice", "m", msg(2), store.Flags{})
	syncNodes(t, n0, n1)
	syncNodes(t, n1, n2)
	n0.expunge("alice", "m", 1)
	if err := n0.acct("alice").DeleteMailbox(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	n2.append("alice", "m", msg(3), store.Flags{})
	syncNodes(t, n0, n2)
	for _, n := range []*node{n0, n2} {
		wantContents(t, n, "alice", "m", "3:3")
	}
	settle(t, n0, n1, n2)
	for _, n := range []*node{n0, n1, n2} {
		wantContents(t, n, "alice", "m", "3:3")
	}
}

// TestThreeDeleteTravels: the same delete with nothing written elsewhere
// goes everywhere, relayed: n0 deletes "m", n1 applies it and passes it
// to n2, which never synced "m" with n0; no replica keeps "m".
func TestThreeDeleteTravels(t *testing.T) {
	n0, n1, n2 := newNode(t, "n0"), newNode(t, "n1"), newNode(t, "n2")
	n0.acct("alice")
	syncNodes(t, n0, n1)
	syncNodes(t, n1, n2)
	if _, err := n1.acct("alice").CreateMailbox(ctx, "m", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	n1.append("alice", "m", msg(1), store.Flags{})
	syncNodes(t, n0, n1)
	syncNodes(t, n1, n2)
	n2.expunge("alice", "m", 1)
	n2.append("alice", "m", msg(2), store.Flags{})
	syncNodes(t, n1, n2)
	syncNodes(t, n0, n1)
	if err := n0.acct("alice").DeleteMailbox(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	syncNodes(t, n0, n1)
	syncNodes(t, n1, n2)
	settle(t, n0, n1, n2)
	for _, n := range []*node{n0, n1, n2} {
		if _, err := n.acct("alice").Mailbox(ctx, "m"); !errors.Is(err, store.ErrNoMailbox) {
			t.Fatalf("%s: deleted mailbox: %v", n.name, err)
		}
	}
}
