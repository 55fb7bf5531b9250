package replica

import (
	"bytes"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// sharingOf opens a user's ACL and access key handles on a node.
func (n *node) sharingOf(user string) (store.ACL, store.AccessKeys) {
	n.t.Helper()
	n.acct(user)
	h, err := n.store.OpenACL(ctx, user)
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { h.Close() })
	k, err := n.store.OpenAccessKeys(ctx, user)
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { k.Close() })
	return h, k
}

func (n *node) setACL(user, mailbox, who, rights string) {
	n.t.Helper()
	h, _ := n.sharingOf(user)
	if err := h.SetACL(ctx, n.mailbox(user, mailbox).ID, who, rights); err != nil {
		n.t.Fatal(err)
	}
}

// rights returns who's rights on the mailbox, and what Grants finds for
// who on this node ("" for none); the two must agree.
func (n *node) rights(user, mailbox, who string) string {
	n.t.Helper()
	h, _ := n.sharingOf(user)
	m := n.mailbox(user, mailbox)
	es, err := h.MailboxACL(ctx, m.ID)
	if err != nil {
		n.t.Fatal(err)
	}
	gs, err := n.store.Grants(ctx, []string{who})
	if err != nil {
		n.t.Fatal(err)
	}
	var fromList, fromGrants string
	for _, e := range es {
		if e.Identifier == who {
			fromList = e.Rights
		}
	}
	for _, g := range gs {
		if g.Owner == user && g.Mailbox == m.ID {
			fromGrants = g.Rights
		}
	}
	if fromList != fromGrants {
		n.t.Fatalf("%s: %s's list gives %s %q, Grants %q", n.name, mailbox, who, fromList, fromGrants)
	}
	return fromList
}

func (n *node) key(user, mailbox string, create bool) []byte {
	n.t.Helper()
	_, k := n.sharingOf(user)
	key, err := k.AccessKey(ctx, n.mailbox(user, mailbox).ID, create)
	if err != nil {
		n.t.Fatal(err)
	}
	return key
}

// sharedPair is two nodes holding alice (with mailbox Shared) and bob,
// synced once.
func sharedPair(t *testing.T) (a, b *node) {
	a, b = newNode(t, "a"), newNode(t, "b")
	for _, n := range []*node{a, b} {
		n.acct("bob")
	}
	if _, err := a.acct("alice").CreateMailbox(ctx, "Shared", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	syncNodes(t, a, b)
	return a, b
}

// TestSharingReplicates: a grant, a change and a removal of rights on one
// replica reach the other (found there by Grants too), in both
// directions; so do a mailbox's access key, RESETKEY of one mailbox and
// RESETKEY of all; an idle sync applies nothing.
func TestSharingReplicates(t *testing.T) {
	a, b := sharedPair(t)
	a.setACL("alice", "Shared", "bob", "lr")
	if st := syncNodes(t, a, b); st.Sharing != 1 {
		t.Fatalf("grant: %d records applied", st.Sharing)
	}
	if r := b.rights("alice", "Shared", "bob"); r != "lr" {
		t.Fatalf("bob's rights on B: %q", r)
	}
	b.setACL("alice", "Shared", "bob", "lrsw")
	syncNodes(t, a, b)
	if r := a.rights("alice", "Shared", "bob"); r != "lrsw" {
		t.Fatalf("bob's rights on A after B's change: %q", r)
	}
	a.setACL("alice", "Shared", "bob", "")
	syncNodes(t, a, b)
	if r := b.rights("alice", "Shared", "bob"); r != "" {
		t.Fatalf("bob keeps %q on B after A took them", r)
	}

	ka := a.key("alice", "Shared", true)
	syncNodes(t, a, b)
	if kb := b.key("alice", "Shared", false); !bytes.Equal(ka, kb) {
		t.Fatalf("B's key %x, A's %x", kb, ka)
	}
	_, k := b.sharingOf("alice")
	if err := k.ResetAccessKey(ctx, b.mailbox("alice", "Shared").ID); err != nil {
		t.Fatal(err)
	}
	syncNodes(t, a, b)
	if ka2, kb := a.key("alice", "Shared", false), b.key("alice", "Shared", false); !bytes.Equal(ka2, kb) || bytes.Equal(ka2, ka) {
		t.Fatalf("after RESETKEY on B: A's key %x, B's %x (old %x)", ka2, kb, ka)
	}
	_, k = a.sharingOf("alice")
	if err := k.RemoveAccessKeys(ctx); err != nil {
		t.Fatal(err)
	}
	syncNodes(t, a, b)
	if kb := b.key("alice", "Shared", false); kb != nil {
		t.Fatalf("B keeps key %x after RESETKEY of every key on A", kb)
	}
	if st := syncNodes(t, a, b); st.Sharing != 0 {
		t.Fatalf("idle sync applied %d records", st.Sharing)
	}
}

// TestSharingConflict: the same entry changed on both replicas between
// two syncs: the later change wins on both, whichever side made it, a
// removal included; so does the later of two RESETKEYs, and a RESETKEY
// of every key on one side takes away a key the other side made before
// it without having sent it yet. Over the TLS transport.
func TestSharingConflict(t *testing.T) {
	a, b := sharedPair(t)
	addr := serve(t, b, "0123456789abcdef")
	cl := dial(t, a, addr, "0123456789abcdef")
	sync := func() {
		t.Helper()
		if _, err := Sync(ctx, a.side, cl, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	a.setACL("alice", "Shared", "bob", "lr")
	sync()
	// B removes, then A grants more: A's later grant wins.
	b.setACL("alice", "Shared", "bob", "")
	a.setACL("alice", "Shared", "bob", "lrsw")
	sync()
	for _, n := range []*node{a, b} {
		if r := n.rights("alice", "Shared", "bob"); r != "lrsw" {
			t.Fatalf("%s: bob's rights %q after a later grant", n.name, r)
		}
	}
	// A grants more, then B removes: B's later removal wins.
	a.setACL("alice", "Shared", "bob", "lrswi")
	b.setACL("alice", "Shared", "bob", "")
	sync()
	for _, n := range []*node{a, b} {
		if r := n.rights("alice", "Shared", "bob"); r != "" {
			t.Fatalf("%s: bob keeps %q after a later removal", n.name, r)
		}
	}

	_, kA := a.sharingOf("alice")
	_, kB := b.sharingOf("alice")
	if err := kA.ResetAccessKey(ctx, a.mailbox("alice", "Shared").ID); err != nil {
		t.Fatal(err)
	}
	if err := kB.ResetAccessKey(ctx, b.mailbox("alice", "Shared").ID); err != nil {
		t.Fatal(err)
	}
	later := b.key("alice", "Shared", false)
	sync()
	if ka := a.key("alice", "Shared", false); !bytes.Equal(ka, later) {
		t.Fatalf("A's key %x, the later RESETKEY's (B) %x", ka, later)
	}
	// B makes a key for INBOX, not yet sent; A then removes every key.
	b.key("alice", "INBOX", true)
	if err := kA.RemoveAccessKeys(ctx); err != nil {
		t.Fatal(err)
	}
	sync()
	for _, n := range []*node{a, b} {
		if k := n.key("alice", "INBOX", false); k != nil {
			t.Fatalf("%s: INBOX key %x survived RESETKEY of every key", n.name, k)
		}
		if k := n.key("alice", "Shared", false); k != nil {
			t.Fatalf("%s: Shared key %x survived RESETKEY of every key", n.name, k)
		}
	}
}
