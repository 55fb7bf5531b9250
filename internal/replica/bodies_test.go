package replica

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// bodyHookSide is a Local whose users run before once, just before their
// first Bodies or PackedBodies call: the point between the engine's
// lookup of messages and its fetch of their bytes. With plain, they act
// as a peer without PackedBodies.
type bodyHookSide struct {
	*Local
	before func()
	plain  bool
}

func (h *bodyHookSide) Open(ctx context.Context, user string, create bool) (User, error) {
	u, err := h.Local.Open(ctx, user, create)
	if err != nil {
		return nil, err
	}
	return &bodyHookUser{User: u, h: h}, nil
}

type bodyHookUser struct {
	User
	h *bodyHookSide
}

func (u *bodyHookUser) Bodies(ctx context.Context, ids []string) ([][]byte, error) {
	if f := u.h.before; f != nil {
		u.h.before = nil
		f()
	}
	return u.User.Bodies(ctx, ids)
}

func (u *bodyHookUser) PackedBodies(ctx context.Context, ids []string) ([][]byte, error) {
	if u.h.plain {
		return nil, errNoPacked
	}
	if f := u.h.before; f != nil {
		u.h.before = nil
		f()
	}
	return u.User.PackedBodies(ctx, ids)
}

// TestBodyReclaimedDuringSync: a message expunged on the sender (and its
// bytes reclaimed) after the sync looked it up but before it fetched its
// body. The sync must not fail: the other messages arrive, the expunged
// one does not, and the next sync brings its tombstone. Bodies fetched
// packed and plain.
func TestBodyReclaimedDuringSync(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain=%v", plain), func(t *testing.T) { testBodyReclaimedDuringSync(t, plain) })
	}
}

func testBodyReclaimedDuringSync(t *testing.T, plain bool) {
	a, b := newNode(t, "a"), newNode(t, "b")
	for i := 1; i <= 5; i++ {
		a.append("alice", "INBOX", msg(i), store.Flags{})
	}
	blob := ""
	acct := a.acct("alice")
	in := a.mailbox("alice", "INBOX")
	acct.Messages(ctx, in.ID, store.UIDSetOf(3), func(d *store.MessageData) error { blob = d.BlobID; return nil })
	side := &bodyHookSide{Local: a.side, before: func() {
		a.expunge("alice", "INBOX", 3)
		if _, err := a.store.CollectBlobs(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if bl, err := acct.OpenBlob(ctx, blob); err == nil {
			bl.Close()
			t.Fatal("body of UID 3 still readable after its expunge and a collection")
		}
	}, plain: plain}
	st, err := Sync(ctx, side, b.side, Options{})
	if err != nil {
		t.Fatalf("sync with a body reclaimed meanwhile: %v", err)
	}
	if side.before != nil {
		t.Fatal("the hook never ran")
	}
	wantContents(t, b, "alice", "INBOX", "1:1", "2:2", "4:4", "5:5")
	syncNodes(t, a, b)
	assertSame(t, "alice", false, a, b)
	ch, err := b.acct("alice").ChangesSince(ctx, b.mailbox("alice", "INBOX").ID, 0)
	if err != nil || !ch.Vanished.Contains(3) {
		t.Fatalf("B's changes: %+v %v (first sync %+v)", ch, err, st)
	}
}

// failSide is a Local whose users' Apply fails (as a crash would stop it)
// while fail is set, after letting through the first pass calls.
type failSide struct {
	*Local
	pass int // Apply calls that go through
	fail bool
}

func (f *failSide) Open(ctx context.Context, user string, create bool) (User, error) {
	u, err := f.Local.Open(ctx, user, create)
	if err != nil {
		return nil, err
	}
	return &failUser{User: u, f: f}, nil
}

type failUser struct {
	User
	f *failSide
}

var errCrash = errors.New("crashed")

func (u *failUser) Apply(ctx context.Context, guid string, b Batch) (store.ApplyResult, error) {
	if u.f.fail {
		if u.f.pass == 0 {
			return store.ApplyResult{}, errCrash
		}
		u.f.pass--
	}
	return u.User.Apply(ctx, guid, b)
}

// TestClashInterrupted: a sync settling a UID clash stops after one side
// has moved the messages to fresh UIDs and before the other has. The next
// sync must finish the fix without a second copy of either message.
func TestClashInterrupted(t *testing.T) {
	cases := []struct {
		failA bool
		pass  int
	}{{true, 0}, {false, 0}, {false, 1}, {true, 1}, {true, 2}}
	for _, c := range cases {
		failA := c.failA
		t.Run(fmt.Sprintf("interrupted on a %v after %d", failA, c.pass), func(t *testing.T) {
			a, b := primed(t)
			a.append("alice", "INBOX", msg(10), store.Flags{})
			b.append("alice", "INBOX", msg(20), store.Flags{})
			b.append("alice", "INBOX", msg(21), store.Flags{})
			fa, fb := &failSide{Local: a.side}, &failSide{Local: b.side}
			// The engine applies to b, then to a: failing a's Apply
			// stops after b moved; failing b's stops before anything.
			victim := fa
			if !failA {
				victim = fb
			}
			victim.fail, victim.pass = true, c.pass
			// One message per transaction, so that a crash can fall
			// between the moved messages.
			if _, err := Sync(ctx, fa, fb, Options{BatchMessages: 1}); err != nil && !errors.Is(err, errCrash) {
				t.Fatalf("interrupted sync: %v", err)
			}
			victim.fail = false
			syncNodes(t, a, b)
			syncNodes(t, b, a)
			assertSame(t, "alice", false, a, b)
			got := contents(t, a, "alice", "INBOX")
			seen := map[string]bool{}
			for _, c := range got {
				num := c[strings.Index(c, ":")+1:]
				if seen[num] {
					t.Fatalf("message %s twice: %v", num, got)
				}
				seen[num] = true
			}
			for _, num := range []string{"1", "2", "3", "10", "20", "21"} {
				if !seen[num] {
					t.Fatalf("message %s lost: %v", num, got)
				}
			}
		})
	}
}
