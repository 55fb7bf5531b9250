package storetest

import (
	"bytes"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// testReplicateSharing: ACL entries and access keys as they replicate
// (store.ACLReplica, store.AccessKeyReplica). A removal keeps a record
// with a later stamp; a record applies only when it beats the one held
// (so an older grant does not bring a taken right back); an applied
// grant is found by Grants; a local change after an applied one gets a
// larger stamp (the clock follows what it has seen); records of a
// mailbox not held are skipped; the records of one store applied to a
// second holding the same mailbox make the second hold the same.
func testReplicateSharing(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	as, h := openACL(t, s, "alice")
	ar, ok := h.(store.ACLReplica)
	if !ok {
		t.Skip("backend's access control lists do not replicate")
	}
	if err := s.CreateUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	shared, err := a.CreateMailbox(ctx, "Shared", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	records := func() []store.ACLRecord {
		t.Helper()
		rs, err := ar.ACLRecords(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	apply := func(want int, rs ...store.ACLRecord) {
		t.Helper()
		n, err := ar.ApplyACLRecords(ctx, rs)
		if err != nil || n != want {
			t.Fatalf("ApplyACLRecords(%+v) = %d, %v; want %d applied", rs, n, err, want)
		}
	}
	bobRights := func() string {
		t.Helper()
		gs, err := as.Grants(ctx, []string{"bob"})
		if err != nil {
			t.Fatal(err)
		}
		es, err := h.MailboxACL(ctx, shared.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case len(gs) == 0 && len(es) == 0:
			return ""
		case len(gs) == 1 && len(es) == 1 && gs[0].Rights == es[0].Rights && gs[0].Mailbox == shared.ID:
			return es[0].Rights
		}
		t.Fatalf("grants %+v, entries %+v", gs, es)
		return ""
	}

	if err := h.SetACL(ctx, shared.ID, "bob", "lr"); err != nil {
		t.Fatal(err)
	}
	rs := records()
	if len(rs) != 1 || rs[0].Mailbox != shared.GUID || rs[0].Identifier != "bob" || rs[0].Rights != "lr" || rs[0].Stamp == 0 {
		t.Fatalf("records after SetACL: %+v", rs)
	}
	granted := rs[0]
	if err := h.SetACL(ctx, shared.ID, "bob", ""); err != nil {
		t.Fatal(err)
	}
	rs = records()
	if len(rs) != 1 || rs[0].Rights != "" || rs[0].Stamp <= granted.Stamp {
		t.Fatalf("records after the removal: %+v (grant stamped %d)", rs, granted.Stamp)
	}
	removed := rs[0]
	if r := bobRights(); r != "" {
		t.Fatalf("bob still has %q after the removal", r)
	}
	// A peer's grant older than the removal, or equal to it with more
	// rights, changes nothing.
	apply(0, granted)
	apply(0, store.ACLRecord{Mailbox: shared.GUID, Identifier: "bob", Rights: "lrs", Stamp: removed.Stamp})
	if r := bobRights(); r != "" {
		t.Fatalf("an older grant brought back %q", r)
	}
	// A later one applies, and Grants finds it.
	later := store.ACLRecord{Mailbox: shared.GUID, Identifier: "bob", Rights: "lrs", Stamp: removed.Stamp + 1000}
	apply(1, later)
	if r := bobRights(); r != "lrs" {
		t.Fatalf("bob's rights after a later grant: %q", r)
	}
	apply(0, later)
	// At the same stamp, fewer rights win.
	apply(1, store.ACLRecord{Mailbox: shared.GUID, Identifier: "bob", Rights: "l", Stamp: later.Stamp})
	if r := bobRights(); r != "l" {
		t.Fatalf("bob's rights after a tie: %q", r)
	}
	apply(0, store.ACLRecord{Mailbox: "no-such-mailbox", Identifier: "bob", Rights: "l", Stamp: later.Stamp + 1})
	// A stamp far ahead (a peer with a fast clock): the next local change
	// still wins over it.
	ahead := store.ACLRecord{Mailbox: shared.GUID, Identifier: "bob", Rights: "lr", Stamp: later.Stamp + 1<<50}
	apply(1, ahead)
	if err := h.SetACL(ctx, shared.ID, "bob", ""); err != nil {
		t.Fatal(err)
	}
	if rs = records(); len(rs) != 1 || rs[0].Rights != "" || rs[0].Stamp <= ahead.Stamp {
		t.Fatalf("local removal after a stamp ahead: %+v (ahead %d)", rs, ahead.Stamp)
	}
	if err := h.SetACL(ctx, shared.ID, "bob", "lrw"); err != nil {
		t.Fatal(err)
	}

	// Access keys.
	k := openAccessKeys(t, s, "alice")
	kr, ok := k.(store.AccessKeyReplica)
	if !ok {
		t.Fatal("access control lists replicate but access keys do not")
	}
	keyRecords := func() map[string]store.AccessKeyRecord {
		t.Helper()
		rs, err := kr.AccessKeyRecords(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]store.AccessKeyRecord{}
		for _, r := range rs {
			m[r.Mailbox] = r
		}
		return m
	}
	applyKeys := func(want int, rs ...store.AccessKeyRecord) {
		t.Helper()
		n, err := kr.ApplyAccessKeyRecords(ctx, rs)
		if err != nil || n != want {
			t.Fatalf("ApplyAccessKeyRecords = %d, %v; want %d applied", n, err, want)
		}
	}
	key := func(create bool) []byte {
		t.Helper()
		key, err := k.AccessKey(ctx, shared.ID, create)
		if err != nil {
			t.Fatal(err)
		}
		return key
	}
	first := key(true)
	kr1 := keyRecords()[shared.GUID]
	if !bytes.Equal(kr1.Key, first) || kr1.Stamp == 0 {
		t.Fatalf("key record %+v, key %x", kr1, first)
	}
	applyKeys(0, store.AccessKeyRecord{Mailbox: shared.GUID, Key: store.NewAccessKey(), Stamp: kr1.Stamp - 1})
	peerKey := store.AccessKeyRecord{Mailbox: shared.GUID, Key: store.NewAccessKey(), Stamp: kr1.Stamp + 1}
	applyKeys(1, peerKey)
	if got := key(true); !bytes.Equal(got, peerKey.Key) {
		t.Fatalf("key %x after a later peer key %x", got, peerKey.Key)
	}
	if err := k.ResetAccessKey(ctx, shared.ID); err != nil {
		t.Fatal(err)
	}
	if r := keyRecords()[shared.GUID]; r.Stamp <= peerKey.Stamp || bytes.Equal(r.Key, peerKey.Key) || len(r.Key) != store.AccessKeySize {
		t.Fatalf("after RESETKEY: %+v", r)
	}
	// RESETKEY without a mailbox removes every mailbox's key, with a
	// record even for a mailbox that had none here.
	if err := k.RemoveAccessKeys(ctx); err != nil {
		t.Fatal(err)
	}
	inbox := MustMailbox(t, a, "INBOX")
	krs := keyRecords()
	gone := krs[shared.GUID]
	if len(gone.Key) != 0 || len(krs[inbox.GUID].Key) != 0 || krs[inbox.GUID].Stamp == 0 {
		t.Fatalf("after removing every key: %+v", krs)
	}
	if got := key(false); got != nil {
		t.Fatalf("a removed key reads %x", got)
	}
	applyKeys(0, peerKey)
	if got := key(false); got != nil {
		t.Fatal("an older key came back after the removal")
	}
	if fresh := key(true); len(fresh) != store.AccessKeySize {
		t.Fatalf("new key after the removal: %x", fresh)
	}
	if r := keyRecords()[shared.GUID]; r.Stamp <= gone.Stamp {
		t.Fatalf("new key stamped %d after the removal's %d", r.Stamp, gone.Stamp)
	}

	// A second store holding the same mailbox takes every record.
	s2 := be.New(t, Options{})
	a2 := mustUser(t, s2, "alice")
	if err := s2.CreateUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	r2 := newReplica(t, s2)
	if _, err := r2.ApplyAccount(ctx, []store.AccountOp{{Kind: store.OpCreate, GUID: shared.GUID, Name: "Shared",
		UIDValidity: shared.UIDValidity, Stamp: 1}}, "", nil); err != nil {
		t.Fatal(err)
	}
	as2, h2 := openACL(t, s2, "alice")
	k2 := openAccessKeys(t, s2, "alice")
	if n, err := h2.(store.ACLReplica).ApplyACLRecords(ctx, records()); err != nil || n != 1 {
		t.Fatalf("ACL records applied on the second store: %d, %v", n, err)
	}
	var shared2Keys []store.AccessKeyRecord
	for _, r := range keyRecords() {
		shared2Keys = append(shared2Keys, r)
	}
	if _, err := k2.(store.AccessKeyReplica).ApplyAccessKeyRecords(ctx, shared2Keys); err != nil {
		t.Fatal(err)
	}
	shared2 := MustMailbox(t, a2, "Shared")
	gs, err := as2.Grants(ctx, []string{"bob"})
	if err != nil || len(gs) != 1 || gs[0].Mailbox != shared2.ID || gs[0].Rights != "lrw" {
		t.Fatalf("bob's grants on the second store: %+v, %v", gs, err)
	}
	k1, _ := k.AccessKey(ctx, shared.ID, false)
	if got, err := k2.AccessKey(ctx, shared2.ID, false); err != nil || !bytes.Equal(got, k1) {
		t.Fatalf("second store's key %x, first's %x, %v", got, k1, err)
	}
}

// testPruneSharing: the removal rows of an ACL entry and of an access key
// go only at or below the bound and once every known peer holds them (as
// recorded with SetSharingPeer); what is recorded of them goes with them,
// and a forgotten peer holds nothing back.
func testPruneSharing(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	_, h := openACL(t, s, "alice")
	sp, ok := store.SharingPeersOf(h)
	if !ok {
		t.Skip("backend records no peers' ACL entries")
	}
	ar := h.(store.ACLReplica)
	inbox := MustMailbox(t, a, "INBOX")
	for _, id := range []string{"bob", "carol"} {
		if err := h.SetACL(ctx, inbox.ID, id, "lr"); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.SetACL(ctx, inbox.ID, "bob", ""); err != nil {
		t.Fatal(err)
	}
	ks, ok := s.(store.AccessKeyStore)
	if !ok {
		t.Skip("backend keeps no access keys")
	}
	k, err := ks.OpenAccessKeys(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if _, err := k.AccessKey(ctx, inbox.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := k.RemoveAccessKeys(ctx); err != nil {
		t.Fatal(err)
	}
	kr := k.(store.AccessKeyReplica)
	acl, err := ar.ACLRecords(ctx)
	if err != nil || len(acl) != 2 || acl[0].Rights != "" {
		t.Fatalf("records %+v, %v", acl, err)
	}
	keys, err := kr.AccessKeyRecords(ctx)
	if err != nil || len(keys) != 1 || len(keys[0].Key) != 0 {
		t.Fatalf("key records %+v, %v", keys, err)
	}
	bob := acl[0]
	top := max(bob.Stamp, keys[0].Stamp) + 1e12
	prune := func(before uint64, want int) {
		t.Helper()
		if n, err := sp.PruneSharing(ctx, before); err != nil || n != want {
			t.Fatalf("prune at %d: %d, %v; want %d", before, n, err, want)
		}
	}
	// p2 still holds bob's rights and the key.
	if err := sp.SetSharingPeer(ctx, "p1", acl, keys); err != nil {
		t.Fatal(err)
	}
	held := []store.ACLRecord{{Mailbox: bob.Mailbox, Identifier: "bob", Rights: "lr", Stamp: bob.Stamp - 1}, acl[1]}
	heldKey := []store.AccessKeyRecord{{Mailbox: keys[0].Mailbox, Key: []byte("k"), Stamp: keys[0].Stamp - 1}}
	if err := sp.SetSharingPeer(ctx, "p2", held, heldKey); err != nil {
		t.Fatal(err)
	}
	got, gotKeys, known, err := sp.SharingPeer(ctx, "p2")
	if err != nil || !known || len(got) != 2 || got[0].Rights == "" || got[0].Stamp != bob.Stamp-1 || len(gotKeys) != 1 || len(gotKeys[0].Key) == 0 {
		t.Fatalf("recorded for p2: %+v %+v %v %v", got, gotKeys, known, err)
	}
	prune(top, 0)
	if err := sp.SetSharingPeer(ctx, "p2", acl, keys); err != nil {
		t.Fatal(err)
	}
	prune(min(bob.Stamp, keys[0].Stamp)-1, 0)
	prune(top, 2)
	if rs, _ := ar.ACLRecords(ctx); len(rs) != 1 || rs[0].Identifier != "carol" {
		t.Fatalf("records after pruning %+v", rs)
	}
	if rs, _ := kr.AccessKeyRecords(ctx); len(rs) != 0 {
		t.Fatalf("key records after pruning %+v", rs)
	}
	if got, gotKeys, known, _ := sp.SharingPeer(ctx, "p1"); !known || len(got) != 1 || got[0].Identifier != "carol" || len(gotKeys) != 0 {
		t.Fatalf("recorded for p1 after pruning: %+v %+v", got, gotKeys)
	}
	// A known peer holds a later removal back; forgotten, it does not.
	if err := h.SetACL(ctx, inbox.ID, "carol", ""); err != nil {
		t.Fatal(err)
	}
	prune(top*2, 0)
	for _, p := range []string{"p1", "p2"} {
		if err := sp.ForgetSharingPeer(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	prune(top*2, 1)
}
