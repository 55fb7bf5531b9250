package replica

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// A client that saw a UID on one replica must learn that it vanished when
// it fails over to another (QRESYNC's VANISHED (EARLIER), RFC 7162
// 3.2.5.2), however the expunge reached the other replica. These tests
// drive the engine to the points where it once did not.

// lookupHookSide is a Side whose users run beforeLookup (once) just before the
// first Lookup that follows a Changes: a client's write landing between
// the engine's read of a mailbox's changes and its lookup of the messages
// in play.
type lookupHookSide struct {
	Side
	beforeLookup func()
	armed        bool
}

func (h *lookupHookSide) Open(ctx context.Context, user string, create bool) (User, error) {
	u, err := h.Side.Open(ctx, user, create)
	if err != nil {
		return nil, err
	}
	return &lookupHookUser{User: u, h: h}, nil
}

type lookupHookUser struct {
	User
	h *lookupHookSide
}

func (u *lookupHookUser) Changes(ctx context.Context, guid string, since store.ModSeq) (MailboxChanges, error) {
	u.h.armed = true
	return u.User.Changes(ctx, guid, since)
}

func (u *lookupHookUser) Lookup(ctx context.Context, guid string, uids store.UIDSet) ([]Message, error) {
	if f := u.h.beforeLookup; f != nil && u.h.armed {
		u.h.beforeLookup = nil
		f()
	}
	return u.User.Lookup(ctx, guid, uids)
}

// tombstones describes a mailbox's tombstones with their modseqs.
func tombstones(t testing.TB, n *node, user, mailbox string) string {
	t.Helper()
	ts, err := n.repl(user).Tombstones(ctx, n.mailbox(user, mailbox).ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range ts {
		out = append(out, fmt.Sprintf("%s@%d", x.UIDs, x.ModSeq))
	}
	return fmt.Sprint(out)
}

// assertVanished checks that a QRESYNC client at modseq since gets the same
// VANISHED from every node, and that it holds want.
func assertVanished(t testing.TB, since store.ModSeq, want []store.UID, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		ch, err := n.acct("alice").ChangesSince(ctx, n.mailbox("alice", "INBOX").ID, since)
		if err != nil {
			t.Fatal(err)
		}
		if got := ch.Vanished.UIDs(); !slices.Equal(got, want) {
			t.Errorf("%s: VANISHED since %d = %v, want %v; tombstones %s", n.name, since, got, want, tombstones(t, n, "alice", "INBOX"))
		}
	}
	if a, b := tombstones(t, nodes[0], "alice", "INBOX"), tombstones(t, nodes[1], "alice", "INBOX"); a != b {
		t.Errorf("tombstones differ: %s %s, %s %s", nodes[0].name, a, nodes[1].name, b)
	}
}

// TestExpungeBetweenChangesAndLookup: the first sync reads A's changes
// while UID 5 exists and looks it up after a client expunged it, so B
// gets neither the message nor (its expunge came after the read) the
// tombstone, while its UIDNEXT passes 5. The next sync carries A's
// tombstone of 5, below B's UIDNEXT: B must still record it, at A's
// modseq (this is how a continuously pushed replica once failed a
// failover QRESYNC: VANISHED (EARLIER) lacked the UID).
func TestExpungeBetweenChangesAndLookup(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	for i := 1; i <= 6; i++ {
		a.append("alice", "INBOX", msg(i), store.Flags{})
	}
	a.expunge("alice", "INBOX", 3)
	seen := a.mailbox("alice", "INBOX").HighestModSeq // a client's last sync
	a.setFlags("alice", "INBOX", 1, store.FlagsAdd, store.Flags{System: store.FlagFlagged})
	a.setFlags("alice", "INBOX", 5, store.FlagsAdd, store.Flags{System: store.FlagDeleted})

	hooked := &lookupHookSide{Side: a.side, beforeLookup: func() { a.expunge("alice", "INBOX", 5) }}
	if _, err := Sync(ctx, hooked, b.side, Options{}); err != nil {
		t.Fatal(err)
	}
	if hooked.beforeLookup != nil {
		t.Fatal("the expunge never ran between the reads")
	}
	wantContents(t, b, "alice", "INBOX", "1:1", "2:2", "4:4", "6:6")
	if next := b.mailbox("alice", "INBOX").UIDNext; next != 7 {
		t.Fatalf("B's UIDNEXT %d, want 7 (past the UID it never received)", next)
	}
	a.append("alice", "INBOX", msg(7), store.Flags{})
	syncNodes(t, a, b)
	assertSame(t, "alice", true, a, b)
	assertVanished(t, seen, []store.UID{5}, a, b)
	if st := syncNodes(t, b, a); st.Mailboxes != 0 {
		t.Fatalf("another sync moved something: %+v", st)
	}
}

// TestExpungeAfterSplitAppends: the first sync of a mailbox whose
// expunged UIDs lie below its last appended ones, with appends split into
// transactions of two: UIDNEXT passes 3 and 5 before the last
// transaction carries their tombstones.
func TestExpungeAfterSplitAppends(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	for i := 1; i <= 8; i++ {
		a.append("alice", "INBOX", msg(i), store.Flags{})
	}
	seen := a.mailbox("alice", "INBOX").HighestModSeq
	a.expunge("alice", "INBOX", 3)
	a.expunge("alice", "INBOX", 5)
	st, err := Sync(ctx, a.side, b.side, Options{BatchMessages: 2})
	if err != nil {
		t.Fatal(err)
	}
	if st.Appends != 6 {
		t.Fatalf("sync: %+v", st)
	}
	assertSame(t, "alice", true, a, b)
	assertVanished(t, seen, []store.UID{3, 5}, a, b)
	if st := syncNodes(t, b, a); st.Mailboxes != 0 {
		t.Fatalf("another sync moved something: %+v", st)
	}
}
