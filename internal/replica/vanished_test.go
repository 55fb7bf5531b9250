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

// readHookSide is a Side whose users run afterRead after each Changes
// (the read of one side of a round) returns: a client's write landing
// between the reads of a round.
type readHookSide struct {
	Side
	afterRead func(n int) // n counts the reads, from 1
	reads     int
}

func (h *readHookSide) Open(ctx context.Context, user string, create bool) (User, error) {
	u, err := h.Side.Open(ctx, user, create)
	if err != nil {
		return nil, err
	}
	return &readHookUser{User: u, h: h}, nil
}

type readHookUser struct {
	User
	h *readHookSide
}

func (u *readHookUser) Changes(ctx context.Context, guid string, since store.ModSeq, also store.UIDSet) (MailboxChanges, error) {
	ch, err := u.User.Changes(ctx, guid, since, also)
	if f := u.h.afterRead; f != nil {
		u.h.reads++
		f(u.h.reads)
	}
	return ch, err
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

// TestWritesDuringRounds: a client writes on A (the only writing side)
// right after each read of A's side of a round, for several syncs in both
// directions: expunges (of a message the round is sending, too), flag
// changes, appends. Each side is read in one snapshot, so a write lands
// after a round's view of A or before it, never inside it, and B ends
// with A's modseqs exactly, tombstones included (replicas' modseqs once
// parted when the changes, tombstones and messages of a side were
// separate reads). A failing-over QRESYNC client is told the same
// VANISHED by both.
func TestWritesDuringRounds(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	for i := 1; i <= 12; i++ {
		a.append("alice", "INBOX", msg(i), store.Flags{})
	}
	a.expunge("alice", "INBOX", 3)
	seen := a.mailbox("alice", "INBOX").HighestModSeq // a client's last sync
	a.setFlags("alice", "INBOX", 5, store.FlagsAdd, store.Flags{System: store.FlagDeleted})
	writes := []func(){
		func() { a.expunge("alice", "INBOX", 5) }, // sent by the round that read it
		func() { a.setFlags("alice", "INBOX", 1, store.FlagsAdd, store.Flags{System: store.FlagFlagged}) },
		func() { a.append("alice", "INBOX", msg(13), store.Flags{}) },
		func() { a.expunge("alice", "INBOX", 2, 13) },
		func() { a.setFlags("alice", "INBOX", 1, store.FlagsAdd, store.Flags{Keywords: []string{"later"}}) },
		func() { a.expunge("alice", "INBOX", 7) },
		func() { a.append("alice", "INBOX", msg(14), store.Flags{System: store.FlagSeen}) },
	}
	hooked := &readHookSide{Side: a.side, afterRead: func(n int) {
		if n <= len(writes) {
			writes[n-1]()
		}
	}}
	for i := 0; hooked.reads < len(writes); i++ {
		var x, y Side = hooked, b.side
		if i%2 == 1 {
			x, y = y, x
		}
		if _, err := Sync(ctx, x, y, Options{}); err != nil {
			t.Fatal(err)
		}
		if i == 20 {
			t.Fatalf("only %d reads of A in 20 syncs", hooked.reads)
		}
	}
	syncNodes(t, a, b)
	assertSame(t, "alice", true, a, b)
	// 3 too: its tombstone merged with 2's, a later one (a superset is
	// allowed, RFC 7162 3.2.10).
	assertVanished(t, seen, []store.UID{2, 3, 5, 7, 13}, a, b)
	if st := syncNodes(t, b, a); st.Mailboxes != 0 {
		t.Fatalf("another sync moved something: %+v", st)
	}
}

// TestRacedUIDWaits: both sides write. B changed message 3, which A's
// read of the round did not show changed; a client changes it on A just
// after that read, before the round looks it up on A. The round leaves
// UID 3 to the next one and A records B's changes as applied only below
// B's change of it, so neither change is lost: the next sync merges both
// per flag.
func TestRacedUIDWaits(t *testing.T) {
	a, b := primed(t)
	a.setFlags("alice", "INBOX", 1, store.FlagsAdd, store.Flags{System: store.FlagSeen})
	b.setFlags("alice", "INBOX", 3, store.FlagsAdd, store.Flags{System: store.FlagAnswered})
	hooked := &readHookSide{Side: a.side, afterRead: func(n int) {
		if n == 1 {
			a.setFlags("alice", "INBOX", 3, store.FlagsAdd, store.Flags{Keywords: []string{"onA"}})
		}
	}}
	if _, err := Sync(ctx, hooked, b.side, Options{}); err != nil {
		t.Fatal(err)
	}
	if hooked.reads < 2 {
		t.Fatalf("%d reads of A: the round never looked message 3 up on A", hooked.reads)
	}
	syncNodes(t, a, b)
	assertSame(t, "alice", false, a, b)
	for _, n := range []*node{a, b} {
		var got store.Flags
		err := n.acct("alice").Messages(ctx, n.mailbox("alice", "INBOX").ID, store.UIDSetOf(3), func(m *store.MessageData) error {
			got = m.Flags
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got.System != store.FlagAnswered || !slices.Equal(got.Keywords, []string{"onA"}) {
			t.Errorf("%s: message 3 has %v, want \\Answered and onA", n.name, got)
		}
	}
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
