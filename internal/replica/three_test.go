package replica

import (
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Three replicas, the cases the randomized test found where an expunge
// did not reach a replica holding the message under another UID, or was
// lost with its mailbox. Each ends with a full mesh settled and the
// expunged message nowhere.

func three(t *testing.T) (n0, n1, n2 *node) {
	n0, n1, n2 = newNode(t, "n0"), newNode(t, "n1"), newNode(t, "n2")
	n0.append("alice", "INBOX", msg(1), store.Flags{})
	syncNodes(t, n0, n1)
	syncNodes(t, n0, n2)
	syncNodes(t, n1, n2)
	return n0, n1, n2
}

func settle(t *testing.T, nodes ...*node) {
	t.Helper()
	for pass := 0; pass < 4; pass++ {
		for i := range nodes {
			for j := i + 1; j < len(nodes); j++ {
				syncNodes(t, nodes[i], nodes[j])
			}
		}
	}
	assertSame(t, "alice", false, nodes...)
}

func wantNowhere(t *testing.T, subject string, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		mbs, err := n.acct("alice").Mailboxes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, mb := range mbs {
			for _, c := range contents(t, n, "alice", mb.Name) {
				if c[len(c)-len(subject)-1:] == ":"+subject {
					t.Fatalf("%s: expunged message %s is back in %s: %v", n.name, subject, mb.Name, contents(t, n, "alice", mb.Name))
				}
			}
		}
	}
}

// TestThreeTombstonesNameBoth: n2 gave UID 2 to a message and expunged
// it; n1 gave UID 2 to another, which n0 received and expunged. When n0
// and n2 sync, both tombstones of UID 2 must keep both EMAILIDs, or n2,
// which knows of no expunge of n1's message, gives it a fresh UID when it
// meets n1, and it comes back everywhere.
func TestThreeTombstonesNameBoth(t *testing.T) {
	n0, n1, n2 := three(t)
	u := n2.append("alice", "INBOX", msg(20), store.Flags{})
	n2.expunge("alice", "INBOX", u)
	n1.append("alice", "INBOX", msg(10), store.Flags{})
	syncNodes(t, n0, n1)
	n0.expunge("alice", "INBOX", u)
	syncNodes(t, n0, n2)
	syncNodes(t, n1, n2)
	settle(t, n0, n1, n2)
	wantNowhere(t, "10", n0, n1, n2)
	wantNowhere(t, "20", n0, n1, n2)
	wantContents(t, n0, "alice", "INBOX", "1:1")
}

// TestThreeClashOfExpunged: a message moved to a fresh UID by a clash
// between two replicas, which a third expunged under its old UID, clashes
// again with the third: it must not move again but go.
func TestThreeClashOfExpunged(t *testing.T) {
	n0, n1, n2 := three(t)
	n1.append("alice", "INBOX", msg(10), store.Flags{}) // UID 2
	syncNodes(t, n1, n2)
	n1.expunge("alice", "INBOX", 2)
	n0.append("alice", "INBOX", msg(20), store.Flags{}) // UID 2: clash with n2
	syncNodes(t, n0, n2)                                // 10 and 20 move to 3 and 4
	if c := contents(t, n0, "alice", "INBOX"); len(c) != 3 || c[1][:2] != "3:" || c[2][:2] != "4:" {
		t.Fatalf("after the clash: %v", c)
	}
	n1.append("alice", "INBOX", msg(30), store.Flags{})
	n1.append("alice", "INBOX", msg(31), store.Flags{}) // UIDs 3, 4 on n1
	syncNodes(t, n0, n1)
	settle(t, n0, n1, n2)
	wantNowhere(t, "10", n0, n1, n2)
	for _, s := range []string{"20", "30", "31"} {
		found := false
		for _, c := range contents(t, n0, "alice", "INBOX") {
			found = found || c[len(c)-len(s)-1:] == ":"+s
		}
		if !found {
			t.Fatalf("message %s lost: %v", s, contents(t, n0, "alice", "INBOX"))
		}
	}
}

// TestThreeExpungeInDeletedMailbox: n1 received a message in a mailbox
// and expunged it; n0 deleted the mailbox without having seen the
// message. The mailbox must stay on n1 (empty) rather than go with the
// tombstone that reaches n2, which still holds the message under the
// delete-vs-write rule.
func TestThreeExpungeInDeletedMailbox(t *testing.T) {
	n0, n1, n2 := three(t)
	if _, err := n0.acct("alice").CreateMailbox(ctx, "c", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	syncNodes(t, n0, n1)
	syncNodes(t, n0, n2)
	syncNodes(t, n1, n2)
	n2.append("alice", "c", msg(17), store.Flags{})
	syncNodes(t, n1, n2)
	n1.expunge("alice", "c", 1)
	if err := n0.acct("alice").DeleteMailbox(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	syncNodes(t, n0, n1)
	syncNodes(t, n0, n2)
	syncNodes(t, n1, n2)
	settle(t, n0, n1, n2)
	wantNowhere(t, "17", n0, n1, n2)
}

// TestThreeInboxesWrittenApart: three replicas whose INBOXes all got
// mail before any contact, in a star through hub. hub first adopts the
// INBOX of x (it has mail, hub's has none); then it meets y, whose INBOX
// (with a smaller id) wins: hub moves x's INBOX's messages aside. Later x
// meets hub and moves the same INBOX aside itself. Both copies get one
// mailbox id (derived from the INBOX's), so every message is present once
// everywhere (before, each side made a mailbox of its own and the
// messages were there twice).
func TestThreeInboxesWrittenApart(t *testing.T) {
	p, q, hub := newNode(t, "p"), newNode(t, "q"), newNode(t, "hub")
	x, y := p, q
	if p.mailbox("alice", "INBOX").GUID < q.mailbox("alice", "INBOX").GUID {
		x, y = q, p // y's INBOX must win over x's
	}
	hub.acct("alice")
	x.append("alice", "INBOX", msg(1), store.Flags{})
	x.append("alice", "INBOX", msg(2), store.Flags{System: store.FlagSeen})
	y.append("alice", "INBOX", msg(3), store.Flags{})
	syncNodes(t, hub, x)
	syncNodes(t, hub, y)
	syncNodes(t, x, hub)
	for pass := 0; pass < 3; pass++ {
		syncNodes(t, hub, x)
		syncNodes(t, hub, y)
	}
	assertSame(t, "alice", false, hub, x, y)
	count := map[string]int{}
	mbs, err := hub.acct("alice").Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range mbs {
		for _, c := range contents(t, hub, "alice", mb.Name) {
			count[c[strings.Index(c, ":")+1:]]++
		}
	}
	for _, m := range []string{"1", "2", "3"} {
		if count[m] != 1 {
			t.Errorf("message %s present %d times; mailboxes %v", m, count[m], brief(t, hub))
		}
	}
	if len(mbs) != 2 {
		t.Errorf("mailboxes: %s", brief(t, hub))
	}
}
