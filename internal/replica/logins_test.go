package replica

import (
	"errors"
	"net/rpc"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/quota"
)

// TestSettingsOverNetwork: accounts and quota overrides cross the TLS
// transport in Sync, both ways, a login new on one side gets its mail store
// on the other, and a side without them is left alone.
func TestSettingsOverNetwork(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	opts := auth.Options{Hash: auth.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}
	for _, n := range []*node{a, b} {
		acc, err := auth.OpenAccountsWith(filepath.Join(n.dir, "acc"), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { acc.Close() })
		q, err := quota.New(n.store, quota.Config{OverridesFile: filepath.Join(n.dir, "q.json")})
		if err != nil {
			t.Fatal(err)
		}
		n.side.Accounts, n.side.Quotas = acc, q
	}
	addr := serve(t, b, "s3cret")
	c := dial(t, a, addr, "s3cret")

	if err := a.side.Accounts.Add("carol", "pw-1"); err != nil {
		t.Fatal(err)
	}
	if err := b.side.Accounts.Add("dave", "pw-2"); err != nil {
		t.Fatal(err)
	}
	if err := b.side.Quotas.SetQuotaLimits("carol", 100, 5); err != nil {
		t.Fatal(err)
	}
	st, err := Sync(ctx, a.side, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Logins != 2 || st.Quotas != 1 {
		t.Fatalf("stats %+v", st)
	}
	for _, n := range []*node{a, b} {
		for _, u := range []string{"carol", "dave"} {
			if ok, _ := n.side.Accounts.Exists(u); !ok {
				t.Fatalf("%s lacks the login %s", n.name, u)
			}
		}
		users, err := n.store.Users(ctx)
		if err != nil || !slices.Contains(users, "carol") || !slices.Contains(users, "dave") {
			t.Fatalf("%s mail stores: %v %v", n.name, users, err)
		}
		if l := n.side.Quotas.Limits("carol"); l != (quota.Limits{StorageBytes: 100, Messages: 5}) {
			t.Fatalf("%s: carol's limits %+v", n.name, l)
		}
	}
	// Nothing more to move.
	if st, err := Sync(ctx, a.side, c, Options{}); err != nil || st.Logins != 0 || st.Quotas != 0 {
		t.Fatalf("second sync: %+v %v", st, err)
	}
	// A side without accounts or quotas: the mail still syncs.
	b.side.Accounts, b.side.Quotas = nil, nil
	if err := a.side.Accounts.SetPassword("carol", "pw-3"); err != nil {
		t.Fatal(err)
	}
	if st, err := Sync(ctx, a.side, c, Options{}); err != nil || st.Logins != 0 {
		t.Fatalf("sync with a side without accounts: %+v %v", st, err)
	}
}

// TestUnsupportedPeer: a peer without the accounts calls (an older
// version) is recognised by net/rpc's answer, so mail keeps replicating.
func TestUnsupportedPeer(t *testing.T) {
	if !unsupported(rpc.ServerError("rpc: can't find method Replica.LoginRecords")) {
		t.Fatal("missing method not recognised")
	}
	if unsupported(rpc.ServerError("auth: records: disk I/O error")) || unsupported(errors.New("can't find method")) {
		t.Fatal("another error taken for a missing method")
	}
}
