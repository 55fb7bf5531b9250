package replica

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestDeletedUserStaysDeleted: a user deleted on A (login and mail, as
// `tidemark user del` does) loses its mail on B at the next sync, over
// the network, and no later sync in either direction brings it back; the
// user added again afterwards replicates afresh.
func TestDeletedUserStaysDeleted(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	opts := auth.Options{Hash: auth.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}
	for _, n := range []*node{a, b} {
		acc, err := auth.OpenAccountsWith(filepath.Join(n.dir, "acc"), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { acc.Close() })
		n.side.Accounts = acc
	}
	if err := a.side.Accounts.Add("carol", "pw-1"); err != nil {
		t.Fatal(err)
	}
	// Short-lived handles: the user's store is deleted later.
	count := func(n *node) int {
		acct, err := n.store.Open(ctx, "carol")
		if err != nil {
			t.Fatal(err)
		}
		defer acct.Close()
		in, err := acct.Mailbox(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		st, err := acct.Status(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		return int(st.Messages)
	}
	if err := a.store.CreateUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	acct, err := a.store.Open(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	in, _ := acct.Mailbox(ctx, "INBOX")
	if _, err := acct.Append(ctx, in.ID, []store.NewMessage{{Body: strings.NewReader(msg(1))}, {Body: strings.NewReader(msg(2))}}); err != nil {
		t.Fatal(err)
	}
	acct.Close()
	addr := serve(t, b, "s3cret")
	c := dial(t, a, addr, "s3cret")
	if _, err := Sync(ctx, a.side, c, Options{}); err != nil {
		t.Fatal(err)
	}
	if n := count(b); n != 2 {
		t.Fatalf("b holds %d messages", n)
	}

	if err := a.side.Accounts.Delete("carol"); err != nil {
		t.Fatal(err)
	}
	if err := a.store.DeleteUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	users := func(n *node) []string {
		us, err := n.store.Users(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return us
	}
	for range 2 {
		if _, err := Sync(ctx, a.side, c, Options{}); err != nil {
			t.Fatal(err)
		}
		if _, err := Sync(ctx, b.side, a.side, Options{}); err != nil {
			t.Fatal(err)
		}
		for _, n := range []*node{a, b} {
			if slices.Contains(users(n), "carol") {
				t.Fatalf("%s holds the deleted user's mail: %v", n.name, users(n))
			}
			if ok, _ := n.side.Accounts.Exists("carol"); ok {
				t.Fatalf("%s has the deleted login back", n.name)
			}
		}
	}
	// Added again on B (login and store, as `tidemark user add` does; a
	// later stamp than the tombstone): replicated afresh.
	if err := b.side.Accounts.Add("carol", "pw-2"); err != nil {
		t.Fatal(err)
	}
	if err := b.store.CreateUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := Sync(ctx, a.side, c, Options{}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(users(a), "carol") || !slices.Contains(users(b), "carol") || count(a) != 0 || count(b) != 0 {
		t.Fatalf("re-added user: stores a %v, b %v", users(a), users(b))
	}
}
