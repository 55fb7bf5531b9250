package replica

import (
	"context"
	"sync"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestSyncOneWriter: a user written on A only arrives on B with the same
// mailboxes, UIDs, UIDVALIDITY, flags, contents and, since one side
// wrote, the same modseqs; a second sync sends nothing.
func TestSyncOneWriter(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	acct := a.acct("alice")
	if _, err := acct.CreateMailbox(ctx, "Sent", store.CreateOptions{SpecialUse: `\Sent`}); err != nil {
		t.Fatal(err)
	}
	if _, err := acct.CreateMailbox(ctx, "Archive/2024", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := acct.SetSubscribed(ctx, "Sent", true); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		a.append("alice", "INBOX", msg(i), store.Flags{Keywords: []string{"k"}})
	}
	a.append("alice", "Sent", msg(1), store.Flags{System: store.FlagSeen}) // same bytes as INBOX 1
	a.setFlags("alice", "INBOX", 2, store.FlagsAdd, store.Flags{System: store.FlagFlagged})
	a.expunge("alice", "INBOX", 3)

	st := syncNodes(t, a, b)
	assertSame(t, "alice", true, a, b)
	// Six messages but five distinct contents: one body crossed once.
	if st.Appends != 5 || st.Bodies != 4 {
		t.Fatalf("first sync: %+v", st)
	}
	st = syncNodes(t, a, b)
	if st.Appends+st.Bodies+st.Flags+st.Expunges+st.AccountOps+st.Mailboxes != 0 {
		t.Fatalf("second sync moved something: %+v", st)
	}

	// Later changes on A arrive with A's modseqs; again, nothing twice.
	a.setFlags("alice", "INBOX", 1, store.FlagsAdd, store.Flags{System: store.FlagSeen})
	a.expunge("alice", "INBOX", 4)
	a.append("alice", "INBOX", msg(9), store.Flags{})
	st = syncNodes(t, b, a) // either side may start
	assertSame(t, "alice", true, a, b)
	if st.Appends != 1 || st.Flags != 1 || st.Expunges != 1 || st.Bodies != 1 {
		t.Fatalf("incremental: %+v", st)
	}
	if st := syncNodes(t, a, b); st.Mailboxes != 0 {
		t.Fatalf("third sync: %+v", st)
	}
}

// primed returns two nodes that have synced a user with messages 1-3 in
// INBOX, the second \Flagged.
func primed(t *testing.T) (a, b *node) {
	a, b = newNode(t, "a"), newNode(t, "b")
	for i := 1; i <= 3; i++ {
		a.append("alice", "INBOX", msg(i), store.Flags{})
	}
	a.setFlags("alice", "INBOX", 2, store.FlagsAdd, store.Flags{System: store.FlagFlagged})
	syncNodes(t, a, b)
	assertSame(t, "alice", true, a, b)
	return a, b
}

// TestFlagMerge: concurrent flag changes merge per flag.
func TestFlagMerge(t *testing.T) {
	a, b := primed(t)
	// An add on one side and the removal of another flag on the other
	// both survive.
	a.setFlags("alice", "INBOX", 2, store.FlagsAdd, store.Flags{System: store.FlagSeen, Keywords: []string{"Work"}})
	b.setFlags("alice", "INBOX", 2, store.FlagsRemove, store.Flags{System: store.FlagFlagged})
	b.setFlags("alice", "INBOX", 2, store.FlagsAdd, store.Flags{Keywords: []string{"todo"}})
	syncNodes(t, a, b)
	assertSame(t, "alice", false, a, b)
	snap, _ := a.acct("alice").Snapshot(ctx, a.mailbox("alice", "INBOX").ID)
	got := snap.Messages[1].Flags
	if got.System != store.FlagSeen || !got.Has("Work") || !got.Has("todo") || len(got.Keywords) != 2 {
		t.Fatalf("merged flags %+v", got)
	}
	// Once merged, the history that served is no longer needed.
	if st := syncNodes(t, a, b); st.Mailboxes != 0 {
		t.Fatalf("after merge: %+v", st)
	}
}

// TestMergeFlags: the per-flag rule. With the flags of the last sync
// known, the side that changed a flag wins; without them (history pruned,
// a peer forgotten), the later change (higher modseq) wins, and a tie sets
// the flag, whichever side is A.
func TestMergeFlags(t *testing.T) {
	seen, flagged := store.Flags{System: store.FlagSeen}, store.Flags{System: store.FlagFlagged}
	both := store.Flags{System: store.FlagSeen | store.FlagFlagged}
	none := store.Flags{}
	for _, tc := range []struct {
		name string
		base *store.Flags
		a    store.Flags
		aMS  store.ModSeq
		b    store.Flags
		bMS  store.ModSeq
		want store.Flags
	}{
		{"add here, remove another there", &flagged, both, 5, none, 6, seen},
		{"set here, untouched there", &none, seen, 5, none, 9, seen},
		{"cleared here, untouched there", &seen, none, 5, seen, 9, none},
		{"no base, later clear wins", nil, seen, 5, none, 6, none},
		{"no base, later set wins", nil, seen, 7, none, 6, seen},
		{"no base, tie sets", nil, none, 6, seen, 6, seen},
		{"keywords merge", &store.Flags{Keywords: []string{"a"}}, store.Flags{Keywords: []string{"a", "b"}}, 5,
			store.Flags{}, 6, store.Flags{Keywords: []string{"b"}}},
		{"keywords without base, case-insensitive", nil, store.Flags{Keywords: []string{"Work"}}, 5,
			store.Flags{Keywords: []string{"work"}}, 6, store.Flags{Keywords: []string{"Work"}}},
	} {
		got := mergeFlags(tc.base, tc.a, tc.aMS, tc.b, tc.bMS)
		rev := mergeFlags(tc.base, tc.b, tc.bMS, tc.a, tc.aMS)
		if !flagsEqual(got, tc.want) || !flagsEqual(rev, tc.want) {
			t.Errorf("%s: got %+v, reversed %+v, want %+v", tc.name, got, rev, tc.want)
		}
	}
}

// TestExpungeBeatsFlags: a message expunged on one side and flagged on the
// other is expunged on both.
func TestExpungeBeatsFlags(t *testing.T) {
	a, b := primed(t)
	a.setFlags("alice", "INBOX", 1, store.FlagsAdd, store.Flags{System: store.FlagAnswered})
	b.expunge("alice", "INBOX", 1)
	syncNodes(t, a, b)
	assertSame(t, "alice", false, a, b)
	wantContents(t, a, "alice", "INBOX", "2:2", "3:3")
}

// TestUIDClash: both sides gave UID 4 to different messages while apart;
// both messages survive on both sides under fresh UIDs, and UID 4 is
// expunged everywhere.
func TestUIDClash(t *testing.T) {
	a, b := primed(t)
	a.append("alice", "INBOX", msg(10), store.Flags{})
	b.append("alice", "INBOX", msg(20), store.Flags{System: store.FlagSeen})
	b.append("alice", "INBOX", msg(21), store.Flags{})
	aHMS := a.mailbox("alice", "INBOX").HighestModSeq
	st := syncNodes(t, a, b)
	assertSame(t, "alice", false, a, b)
	wantContents(t, a, "alice", "INBOX", "1:1", "2:2", "3:3", "5:21", "6:10", "7:20")
	if st.Clashes != 2 {
		t.Fatalf("stats %+v", st)
	}
	// A client of A that saw UID 4 learns that it vanished.
	ch, err := a.acct("alice").ChangesSince(ctx, a.mailbox("alice", "INBOX").ID, aHMS)
	if err != nil || !ch.Vanished.Contains(4) {
		t.Fatalf("changes on A: %+v, %v", ch, err)
	}
	if st := syncNodes(t, a, b); st.Mailboxes != 0 {
		t.Fatalf("after clash: %+v", st)
	}
}

// TestUsedUIDClash: A gave UID 4 to a message and expunged it; B gave 4 to
// another. B's message moves: clients of A saw 4 vanish.
func TestUsedUIDClash(t *testing.T) {
	a, b := primed(t)
	u := a.append("alice", "INBOX", msg(10), store.Flags{})
	a.expunge("alice", "INBOX", u)
	b.append("alice", "INBOX", msg(20), store.Flags{})
	syncNodes(t, b, a)
	assertSame(t, "alice", false, a, b)
	wantContents(t, a, "alice", "INBOX", "1:1", "2:2", "3:3", "5:20")
}

// TestRenameAndNewMail: a rename on one side and new mail on the other:
// the mail is under the new name on both.
func TestRenameAndNewMail(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	if _, err := a.acct("alice").CreateMailbox(ctx, "Projects", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a.append("alice", "Projects", msg(1), store.Flags{})
	syncNodes(t, a, b)
	guid := a.mailbox("alice", "Projects").GUID
	if err := a.acct("alice").RenameMailbox(ctx, "Projects", "Done"); err != nil {
		t.Fatal(err)
	}
	b.append("alice", "Projects", msg(2), store.Flags{})
	syncNodes(t, a, b)
	assertSame(t, "alice", false, a, b)
	wantContents(t, b, "alice", "Done", "1:1", "2:2")
	if b.mailbox("alice", "Done").GUID != guid {
		t.Fatal("renamed mailbox lost its id")
	}
	if _, err := b.acct("alice").Mailbox(ctx, "Projects"); err == nil {
		t.Fatal("old name still there")
	}
}

// TestDeleteVsWrite: a mailbox deleted on A while B received new mail in
// it stays, with only the new mail; without new mail it goes.
func TestDeleteVsWrite(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	for _, name := range []string{"Lists", "Old"} {
		if _, err := a.acct("alice").CreateMailbox(ctx, name, store.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		a.append("alice", name, msg(1), store.Flags{})
		a.append("alice", name, msg(2), store.Flags{})
	}
	syncNodes(t, a, b)
	guid := a.mailbox("alice", "Lists").GUID
	for _, name := range []string{"Lists", "Old"} {
		if err := a.acct("alice").DeleteMailbox(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	b.append("alice", "Lists", msg(3), store.Flags{})
	b.setFlags("alice", "Old", 1, store.FlagsAdd, store.Flags{System: store.FlagSeen})
	syncNodes(t, a, b)
	assertSame(t, "alice", false, a, b)
	wantContents(t, a, "alice", "Lists", "3:3")
	if a.mailbox("alice", "Lists").GUID != guid {
		t.Fatal("kept mailbox changed id")
	}
	if _, err := b.acct("alice").Mailbox(ctx, "Old"); err == nil {
		t.Fatal("mailbox with only old mail survived its deletion")
	}
	// Both sides now agree: new changes flow as usual.
	a.append("alice", "Lists", msg(4), store.Flags{})
	syncNodes(t, b, a)
	assertSame(t, "alice", false, a, b)
	wantContents(t, b, "alice", "Lists", "3:3", "4:4")
}

// TestCreateClash: the same name created on both sides while apart: both
// mailboxes survive, one renamed; INBOXes become one.
func TestCreateClash(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	a.append("alice", "INBOX", msg(1), store.Flags{})
	for _, n := range []*node{a, b} {
		if _, err := n.acct("alice").CreateMailbox(ctx, "Work", store.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	a.append("alice", "Work", msg(2), store.Flags{})
	b.append("alice", "Work", msg(3), store.Flags{})
	syncNodes(t, a, b)
	assertSame(t, "alice", false, a, b)
	mbs, _ := a.acct("alice").Mailboxes(ctx)
	if len(mbs) != 3 {
		t.Fatalf("mailboxes %+v", mbs)
	}
	wantContents(t, b, "alice", "INBOX", "1:1")
}

// TestInboxBothWritten: two replicas that both received mail before
// their first sync keep every message: the losing INBOX's messages are
// moved to a mailbox of their own.
func TestInboxBothWritten(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	a.append("alice", "INBOX", msg(1), store.Flags{})
	b.append("alice", "INBOX", msg(2), store.Flags{})
	syncNodes(t, a, b)
	assertSame(t, "alice", false, a, b)
	mbs, _ := a.acct("alice").Mailboxes(ctx)
	n := 0
	for _, m := range mbs {
		n += len(contents(t, a, "alice", m.Name))
	}
	if len(mbs) != 2 || n != 2 {
		t.Fatalf("mailboxes %+v, %d messages", mbs, n)
	}
}

// TestSubscriptions: subscriptions follow the side that changed them.
func TestSubscriptions(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	a.acct("alice").SetSubscribed(ctx, "x", true)
	a.acct("alice").SetSubscribed(ctx, "y", true)
	syncNodes(t, a, b)
	b.acct("alice").SetSubscribed(ctx, "x", false)
	a.acct("alice").SetSubscribed(ctx, "z", true)
	syncNodes(t, a, b)
	assertSame(t, "alice", false, a, b)
	subs, _ := a.acct("alice").Subscriptions(ctx)
	if len(subs) != 2 || subs[0] != "y" || subs[1] != "z" {
		t.Fatalf("subscriptions %q", subs)
	}
}

// TestPeerAwayPastRetention: A forgot B and pruned its expunge history;
// the next sync still finds what A expunged, from the UID lists.
func TestPeerAwayPastRetention(t *testing.T) {
	a, b := primed(t)
	a.expunge("alice", "INBOX", 1, 3)
	if err := a.repl("alice").ForgetPeer(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	inbox := a.mailbox("alice", "INBOX")
	if err := a.acct("alice").PruneTombstones(ctx, inbox.ID, inbox.HighestModSeq); err != nil {
		t.Fatal(err)
	}
	b.setFlags("alice", "INBOX", 2, store.FlagsAdd, store.Flags{System: store.FlagSeen})
	syncNodes(t, a, b)
	assertSame(t, "alice", false, a, b)
	wantContents(t, b, "alice", "INBOX", "2:2")
	snap, _ := a.acct("alice").Snapshot(ctx, inbox.ID)
	if snap.Messages[0].Flags.System != store.FlagSeen|store.FlagFlagged {
		t.Fatalf("flags %+v", snap.Messages)
	}
}

// hookSide runs before once (once being shared by the two sides), before
// the first ApplyAccount through either.
type hookSide struct {
	*Local
	before func()
	once   *sync.Once
	ran    *bool
}

func (h *hookSide) Open(ctx context.Context, user string, create bool) (User, error) {
	u, err := h.Local.Open(ctx, user, create)
	if err != nil {
		return nil, err
	}
	return &hookUser{User: u, h: h}, nil
}

type hookUser struct {
	User
	h *hookSide
}

func (u *hookUser) ApplyAccount(ctx context.Context, ops []store.AccountOp, peer string, state *store.PeerState) (store.AccountApplyResult, error) {
	u.h.once.Do(func() { *u.h.ran = true; u.h.before() })
	return u.User.ApplyAccount(ctx, ops, peer, state)
}

// TestWriteDuringFirstContact: at first contact of two empty INBOXes, a
// message arrives in both after the account states were read and before
// the loser adopts the winner's identity. The adoption is refused (the
// INBOX is no longer empty); the sync reads again and settles by the rule
// for two written INBOXes instead of failing.
func TestWriteDuringFirstContact(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	a.acct("alice")
	b.acct("alice")
	var once sync.Once
	ran := false
	before := func() {
		a.append("alice", "INBOX", msg(1), store.Flags{})
		b.append("alice", "INBOX", msg(2), store.Flags{})
	}
	ha := &hookSide{Local: a.side, before: before, once: &once, ran: &ran}
	hb := &hookSide{Local: b.side, before: before, once: &once, ran: &ran}
	if _, err := SyncUser(ctx, ha, hb, "alice", Options{}); err != nil {
		t.Fatal(err)
	}
	if !ran {
		t.Fatal("the hook never ran")
	}
	assertSame(t, "alice", false, a, b)
	mbs, _ := a.acct("alice").Mailboxes(ctx)
	n := 0
	for _, m := range mbs {
		n += len(contents(t, a, "alice", m.Name))
	}
	if n != 2 {
		t.Fatalf("mailboxes %+v, %d messages", mbs, n)
	}
}
