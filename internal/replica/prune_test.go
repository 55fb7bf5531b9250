package replica

import (
	"bytes"
	"encoding/gob"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/retention"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// pruneAge is the retention age of the pruning tests; their clock is
// t0 and what they add to it, never the machine's.
const pruneAge = time.Hour

var pruneT0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// pruner is the retention loop of node n, as tidemark serve runs it.
func (n *node) pruner() *retention.Pruner {
	return &retention.Pruner{Store: n.store, Age: pruneAge, StateFile: filepath.Join(n.dir, retention.StateFileName),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// pass runs one retention pass of n at t0+at.
func (n *node) pass(at time.Duration) {
	n.t.Helper()
	if _, err := n.pruner().Pass(ctx, pruneT0.Add(at)); err != nil {
		n.t.Fatal(err)
	}
}

// deleted returns the user's mailbox tombstones and the size of the
// account state as a sync sends it (gob, as the transport encodes it).
func (n *node) deleted(user string) ([]store.MailboxTombstone, int) {
	n.t.Helper()
	st, err := n.repl(user).AccountState(ctx)
	if err != nil {
		n.t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(st); err != nil {
		n.t.Fatal(err)
	}
	return st.Deleted, buf.Len()
}

func (n *node) createMailbox(user, name string) {
	n.t.Helper()
	if _, err := n.acct(user).CreateMailbox(ctx, name, store.CreateOptions{}); err != nil {
		n.t.Fatal(err)
	}
}

func (n *node) deleteMailbox(user, name string) {
	n.t.Helper()
	if err := n.acct(user).DeleteMailbox(ctx, name); err != nil {
		n.t.Fatal(err)
	}
}

func (n *node) hasMailbox(user, name string) bool {
	n.t.Helper()
	_, err := n.acct(user).Mailbox(ctx, name)
	return err == nil
}

// TestMailboxTombstonePruned: a deleted mailbox's tombstone, and the
// EMAILIDs it records, stay while the peer has not confirmed the delete,
// however old, and go from both replicas once it has and the retention
// age has passed; the account state a sync compares shrinks back to what
// it was before the mailbox had mail.
func TestMailboxTombstonePruned(t *testing.T) {
	a, b := primed(t)
	_, before := a.deleted("alice")
	a.createMailbox("alice", "Old")
	for i := 10; i < 60; i++ {
		a.append("alice", "Old", msg(i), store.Flags{})
	}
	syncNodes(t, a, b)
	a.deleteMailbox("alice", "Old")
	a.pass(0)
	b.pass(0)
	a.pass(2 * pruneAge)
	tombs, size := a.deleted("alice")
	if len(tombs) != 1 || len(tombs[0].Seen) != 50 {
		t.Fatalf("tombstone before the peer confirmed: %+v", tombs)
	}
	if size < before+50*20 {
		t.Fatalf("account state %d bytes with the record, %d without", size, before)
	}
	withRecord := size

	syncNodes(t, a, b) // b applies the delete and confirms it
	if b.hasMailbox("alice", "Old") {
		t.Fatal("delete did not travel")
	}
	// Within the age, after the confirmation: kept.
	a.pass(2*pruneAge + time.Minute)
	b.pass(2*pruneAge + time.Minute)
	if tombs, _ := a.deleted("alice"); len(tombs) != 1 {
		t.Fatalf("pruned within the age: %+v", tombs)
	}
	a.pass(4 * pruneAge)
	b.pass(4 * pruneAge)
	for _, n := range []*node{a, b} {
		tombs, size := n.deleted("alice")
		if len(tombs) != 0 {
			t.Fatalf("%s: tombstones left: %+v", n.name, tombs)
		}
		if size > before+64 {
			t.Fatalf("%s: account state %d bytes after pruning, %d before the mailbox", n.name, size, before)
		}
		t.Logf("%s: account state %d bytes before the mailbox, %d with the deleted mailbox's tombstone, %d pruned", n.name, before, withRecord, size)
	}
	// Nothing comes back, and the replicas still agree.
	syncNodes(t, a, b)
	assertSame(t, "alice", false, a, b)
	if a.hasMailbox("alice", "Old") || b.hasMailbox("alice", "Old") {
		t.Fatal("deleted mailbox came back")
	}
}

// TestMailboxTombstoneHeldByPeer: a peer that has synced the account but
// not since the delete holds the tombstone back, at any age.
func TestMailboxTombstoneHeldByPeer(t *testing.T) {
	a, b := primed(t)
	a.createMailbox("alice", "Old")
	a.append("alice", "Old", msg(10), store.Flags{})
	syncNodes(t, a, b)
	a.deleteMailbox("alice", "Old")
	for i := 0; i < 4; i++ {
		a.pass(time.Duration(i) * 10 * pruneAge)
	}
	if tombs, _ := a.deleted("alice"); len(tombs) != 1 {
		t.Fatalf("tombstone pruned before the peer confirmed: %+v", tombs)
	}
	syncNodes(t, a, b)
	if b.hasMailbox("alice", "Old") {
		t.Fatal("delete did not travel")
	}
}

// TestPrunedMailboxDeleteHolds: A deletes three mailboxes that B holds
// (one with old mail only, one empty, one to which B writes while away),
// forgets B (away longer than retention) and prunes the tombstones. When
// B comes back, A has no record of the deletes, but B knows it synced
// those mailboxes with A: the deletes hold on both sides, and the message
// B wrote meanwhile survives, with its mailbox, on both (the rule for a
// mailbox deleted on one side and written on the other).
func TestPrunedMailboxDeleteHolds(t *testing.T) {
	a, b := primed(t)
	for _, name := range []string{"Old", "Empty", "Lists"} {
		a.createMailbox("alice", name)
	}
	a.append("alice", "Old", msg(10), store.Flags{})
	a.append("alice", "Old", msg(11), store.Flags{})
	a.append("alice", "Lists", msg(12), store.Flags{})
	a.createMailbox("alice", "Kept")
	syncNodes(t, a, b)
	lists := a.mailbox("alice", "Lists").GUID
	for _, name := range []string{"Old", "Empty", "Lists"} {
		a.deleteMailbox("alice", name)
	}
	b.append("alice", "Lists", msg(13), store.Flags{})
	b.createMailbox("alice", "New on b")

	if err := a.repl("alice").ForgetPeer(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	a.pass(0)
	a.pass(2 * pruneAge)
	if tombs, _ := a.deleted("alice"); len(tombs) != 0 {
		t.Fatalf("tombstones left after pruning: %+v", tombs)
	}

	syncNodes(t, a, b)
	assertSame(t, "alice", false, a, b)
	for _, n := range []*node{a, b} {
		for _, name := range []string{"Old", "Empty"} {
			if n.hasMailbox("alice", name) {
				t.Fatalf("%s: deleted mailbox %q came back", n.name, name)
			}
		}
		for _, name := range []string{"Kept", "New on b"} {
			if !n.hasMailbox("alice", name) {
				t.Fatalf("%s: mailbox %q lost", n.name, name)
			}
		}
		wantContents(t, n, "alice", "Lists", "2:13")
		if n.mailbox("alice", "Lists").GUID != lists {
			t.Fatalf("%s: kept mailbox changed id", n.name)
		}
	}
	wantContents(t, a, "alice", "INBOX", "1:1", "2:2", "3:3")
	// And they go on as usual.
	a.append("alice", "Lists", msg(14), store.Flags{})
	syncNodes(t, b, a)
	assertSame(t, "alice", false, a, b)
}

// withAccounts gives each node replicated logins whose clock stands at
// t0 (stamps then count up from it), so that the retention passes of the
// tests decide by their own clock.
func withAccounts(t *testing.T, nodes ...*node) {
	t.Helper()
	opts := auth.Options{Hash: auth.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Now: func() time.Time { return pruneT0 }}
	for _, n := range nodes {
		acc, err := auth.OpenAccountsWith(filepath.Join(n.dir, "acc"), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { acc.Close() })
		n.side.Accounts = acc
	}
}

// logins returns a node's account records as "name" or "name deleted".
func (n *node) logins() []string {
	n.t.Helper()
	rs, err := n.side.Accounts.Records(ctx)
	if err != nil {
		n.t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		s := r.Name
		if r.Deleted {
			s += " deleted"
		}
		out = append(out, s)
	}
	return out
}

func (n *node) wantLogins(want ...string) {
	n.t.Helper()
	if got := n.logins(); !slices.Equal(got, want) {
		n.t.Fatalf("%s: logins %q, want %q", n.name, got, want)
	}
}

// passAccounts is pass with the node's logins pruned too, as tidemark
// serve does when it replicates.
func (n *node) passAccounts(at time.Duration) {
	n.t.Helper()
	p := n.pruner()
	p.Accounts = n.side.Accounts
	if _, err := p.Pass(ctx, pruneT0.Add(at)); err != nil {
		n.t.Fatal(err)
	}
}

// deleteUser is `tidemark user del`: the login, then the mail.
func (n *node) deleteUser(user string) {
	n.t.Helper()
	if err := n.side.Accounts.Delete(user); err != nil {
		n.t.Fatal(err)
	}
	if err := n.store.DeleteUser(ctx, user); err != nil && !errors.Is(err, store.ErrNoUser) {
		n.t.Fatal(err)
	}
}

// TestLoginTombstonePruned: a deleted login's tombstone stays, however
// old, while the peer does not hold it; once it does and the retention
// age has passed, it goes from both replicas, and no later sync brings
// the login or a tombstone back.
func TestLoginTombstonePruned(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	withAccounts(t, a, b)
	for _, u := range []string{"alice", "bob"} {
		if err := a.side.Accounts.Add(u, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	syncNodes(t, a, b)
	b.wantLogins("alice", "bob")
	a.deleteUser("bob")
	a.passAccounts(10 * pruneAge)
	a.wantLogins("alice", "bob deleted")

	syncNodes(t, a, b)
	b.wantLogins("alice", "bob deleted")
	for _, n := range []*node{a, b} {
		n.passAccounts(-pruneAge / 2) // within the age
		n.wantLogins("alice", "bob deleted")
	}
	for _, n := range []*node{a, b} {
		n.passAccounts(2 * pruneAge)
		n.wantLogins("alice")
	}
	syncNodes(t, a, b)
	syncNodes(t, b, a)
	a.wantLogins("alice")
	b.wantLogins("alice")
}

// TestPrunedLoginDeleteHolds: A deletes bob (login and mail) while B is
// away, forgets B and prunes the tombstone. B comes back with bob's login
// and mail and a login it added meanwhile: bob is deleted on B too (its
// mail goes), nothing brings it back to A, and the new login reaches A.
// B's tombstone is then pruned by the rule, and the replicas stay alike.
func TestPrunedLoginDeleteHolds(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	withAccounts(t, a, b)
	for _, u := range []string{"alice", "bob"} {
		if err := a.side.Accounts.Add(u, "pw"); err != nil {
			t.Fatal(err)
		}
		if err := a.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		// A short-lived handle: bob's store is deleted later.
		acct, err := a.store.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		in, _ := acct.Mailbox(ctx, "INBOX")
		if _, err := acct.Append(ctx, in.ID, []store.NewMessage{{Body: strings.NewReader(msg(1))}}); err != nil {
			t.Fatal(err)
		}
		acct.Close()
	}
	// Over the network: what b records of the exchange travels by RPC.
	c := dial(t, a, serve(t, b, "s3cret"), "s3cret")
	netSync := func() {
		t.Helper()
		if _, err := Sync(ctx, a.side, c, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	netSync()
	if n := messagesOf(t, b, "bob"); n != 1 {
		t.Fatalf("bob has %d messages on b", n)
	}

	a.deleteUser("bob")
	if err := a.side.Accounts.ForgetPeer(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	a.passAccounts(2 * pruneAge)
	a.wantLogins("alice")
	if err := b.side.Accounts.Add("carol", "pw"); err != nil {
		t.Fatal(err)
	}

	netSync()
	a.wantLogins("alice", "carol")
	b.wantLogins("alice", "bob deleted", "carol")
	if _, err := b.store.Open(ctx, "bob"); !errors.Is(err, store.ErrNoUser) {
		t.Fatalf("bob's mail on b: %v", err)
	}
	if _, err := a.store.Open(ctx, "bob"); !errors.Is(err, store.ErrNoUser) {
		t.Fatalf("bob's mail back on a: %v", err)
	}
	b.passAccounts(4 * pruneAge)
	b.wantLogins("alice", "carol")
	syncNodes(t, b, a)
	a.wantLogins("alice", "carol")
	b.wantLogins("alice", "carol")
	assertSame(t, "alice", false, a, b)
}

// messagesOf counts the messages of user's INBOX on n, through a handle
// closed at once (the user's store may be deleted later).
func messagesOf(t *testing.T, n *node, user string) int {
	t.Helper()
	acct, err := n.store.Open(ctx, user)
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

// removalRows returns the user's ACL and access key removal rows on n,
// and the stamp of the newest.
func (n *node) removalRows(user string) (acl, keys int, newest uint64) {
	n.t.Helper()
	h, k := n.sharingOf(user)
	rs, err := h.(store.ACLReplica).ACLRecords(ctx)
	if err != nil {
		n.t.Fatal(err)
	}
	for _, r := range rs {
		if r.Rights == "" {
			acl++
			newest = max(newest, r.Stamp)
		}
	}
	ks, err := k.(store.AccessKeyReplica).AccessKeyRecords(ctx)
	if err != nil {
		n.t.Fatal(err)
	}
	for _, r := range ks {
		if len(r.Key) == 0 {
			keys++
			newest = max(newest, r.Stamp)
		}
	}
	return acl, keys, newest
}

// passAt runs one retention pass of n at the given time.
func (n *node) passAt(now time.Time) {
	n.t.Helper()
	if _, err := n.pruner().Pass(ctx, now); err != nil {
		n.t.Fatal(err)
	}
}

// TestSharingRemovalPruned: the removal rows of an ACL entry and of an
// access key stay, however old, while the peer does not hold them; once
// it does and the retention age has passed (judged by their stamps,
// which follow the clock), they go from both replicas, and no later sync
// brings the entry, the key or the rows back.
func TestSharingRemovalPruned(t *testing.T) {
	a, b := primed(t)
	a.setACL("alice", "INBOX", "bob", "lr")
	a.setACL("alice", "INBOX", "carol", "lr")
	if a.key("alice", "INBOX", false) != nil {
		t.Fatal("key before GENURLAUTH")
	}
	a.key("alice", "INBOX", true)
	_, k := a.sharingOf("alice")
	syncNodes(t, a, b)
	a.setACL("alice", "INBOX", "bob", "")
	if err := k.RemoveAccessKeys(ctx); err != nil {
		t.Fatal(err)
	}
	acl, keys, stamp := a.removalRows("alice")
	if acl != 1 || keys != 1 {
		t.Fatalf("removal rows: %d ACL, %d keys", acl, keys)
	}
	at := time.Unix(0, int64(stamp))
	a.passAt(at.Add(10 * pruneAge))
	if acl, keys, _ := a.removalRows("alice"); acl != 1 || keys != 1 {
		t.Fatalf("pruned before the peer held them: %d ACL, %d keys", acl, keys)
	}

	syncNodes(t, a, b)
	for _, n := range []*node{a, b} {
		n.passAt(at.Add(pruneAge / 2)) // within the age
		if acl, keys, _ := n.removalRows("alice"); acl != 1 || keys != 1 {
			t.Fatalf("%s: pruned within the age: %d ACL, %d keys", n.name, acl, keys)
		}
	}
	for _, n := range []*node{a, b} {
		n.passAt(at.Add(2 * pruneAge))
		if acl, keys, _ := n.removalRows("alice"); acl != 0 || keys != 0 {
			t.Fatalf("%s: removal rows left: %d ACL, %d keys", n.name, acl, keys)
		}
	}
	syncNodes(t, a, b)
	syncNodes(t, b, a)
	for _, n := range []*node{a, b} {
		if acl, keys, _ := n.removalRows("alice"); acl != 0 || keys != 0 {
			t.Fatalf("%s: removal rows back: %d ACL, %d keys", n.name, acl, keys)
		}
		if r := n.rights("alice", "INBOX", "bob"); r != "" {
			t.Fatalf("%s: bob's rights back: %q", n.name, r)
		}
		if r := n.rights("alice", "INBOX", "carol"); r != "lr" {
			t.Fatalf("%s: carol's rights %q", n.name, r)
		}
		if n.key("alice", "INBOX", false) != nil {
			t.Fatalf("%s: removed key back", n.name)
		}
	}
}

// TestPrunedSharingRemovalHolds: A takes bob's rights away and removes
// its access keys while B is away, forgets B and prunes the removal
// rows. B comes back (over the network) still granting bob and holding
// the key, and with a grant to dave it made meanwhile: bob's rights and
// the key go on B too, dave's grant reaches A.
func TestPrunedSharingRemovalHolds(t *testing.T) {
	a, b := primed(t)
	a.setACL("alice", "INBOX", "bob", "lr")
	a.key("alice", "INBOX", true)
	_, k := a.sharingOf("alice")
	c := dial(t, a, serve(t, b, "s3cret"), "s3cret")
	netSync := func() {
		t.Helper()
		if _, err := Sync(ctx, a.side, c, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	netSync()
	if b.rights("alice", "INBOX", "bob") != "lr" || b.key("alice", "INBOX", false) == nil {
		t.Fatal("grant or key did not travel")
	}

	a.setACL("alice", "INBOX", "bob", "")
	if err := k.RemoveAccessKeys(ctx); err != nil {
		t.Fatal(err)
	}
	h, _ := a.sharingOf("alice")
	sp, _ := store.SharingPeersOf(h)
	if err := sp.ForgetSharingPeer(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	_, _, stamp := a.removalRows("alice")
	a.passAt(time.Unix(0, int64(stamp)).Add(2 * pruneAge))
	if acl, keys, _ := a.removalRows("alice"); acl != 0 || keys != 0 {
		t.Fatalf("removal rows left after pruning: %d ACL, %d keys", acl, keys)
	}
	b.setACL("alice", "INBOX", "dave", "lrs")

	netSync()
	for _, n := range []*node{a, b} {
		if r := n.rights("alice", "INBOX", "bob"); r != "" {
			t.Fatalf("%s: bob's rights back: %q", n.name, r)
		}
		if n.key("alice", "INBOX", false) != nil {
			t.Fatalf("%s: removed key back", n.name)
		}
		if r := n.rights("alice", "INBOX", "dave"); r != "lrs" {
			t.Fatalf("%s: dave's rights %q", n.name, r)
		}
	}
	netSync()
	if r := a.rights("alice", "INBOX", "bob"); r != "" {
		t.Fatalf("bob's rights back on a: %q", r)
	}
}

// TestKeptMailboxLosesSharing: a mailbox deleted on A (its entries and
// key with it) and kept by B for a message B wrote meanwhile comes back
// on A without the entries and key the two had in common: the delete
// took them, as a removal would.
func TestKeptMailboxLosesSharing(t *testing.T) {
	a, b := primed(t)
	a.createMailbox("alice", "Lists")
	a.setACL("alice", "Lists", "bob", "lr")
	a.key("alice", "Lists", true)
	syncNodes(t, a, b)
	a.deleteMailbox("alice", "Lists")
	b.append("alice", "Lists", msg(20), store.Flags{})
	syncNodes(t, a, b)
	for _, n := range []*node{a, b} {
		wantContents(t, n, "alice", "Lists", "1:20")
		if r := n.rights("alice", "Lists", "bob"); r != "" {
			t.Fatalf("%s: bob's rights %q", n.name, r)
		}
		if n.key("alice", "Lists", false) != nil {
			t.Fatalf("%s: key kept", n.name)
		}
	}
}
