package replica

import (
	"context"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// bodyHookSide is a Local whose users run before once, just before their
// first Bodies call: the point between the engine's lookup of messages
// and its fetch of their bytes.
type bodyHookSide struct {
	*Local
	before func()
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

// TestBodyReclaimedDuringSync: a message expunged on the sender (and its
// bytes reclaimed) after the sync looked it up but before it fetched its
// body. The sync must not fail: the other messages arrive, the expunged
// one does not, and the next sync brings its tombstone.
func TestBodyReclaimedDuringSync(t *testing.T) {
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
	}}
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
