package sqlitestore

import (
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// undoV15 turns a current database back into schema version 14.
var undoV15 = append(slices.Clone(undoV16), `DROP TABLE sharing_peers`)

// undoV14 turns a current database back into schema version 13: version
// 14 changed no table.
var undoV14 = undoV15

// TestMigrateV14SharingPeers converts a version 14 database: its ACL
// entries, removals included, stay; no peer is known, so a removal older
// than the bound can be pruned, and a peer recorded afterwards holds the
// next one back.
func TestMigrateV14SharingPeers(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	a := aliceAccount(t, s)
	inbox := mustMailbox(t, a, "INBOX")
	h, err := s.OpenACL(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"bob", "carol"} {
		if err := h.SetACL(ctx, inbox.ID, id, "lr"); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.SetACL(ctx, inbox.ID, "bob", ""); err != nil {
		t.Fatal(err)
	}
	h.Close()
	a.Close()
	s.Close()
	downgradeAlice(t, dir, append(undoV15, `PRAGMA user_version = 14`)...)

	s = openStore(t, dir, Options{})
	defer s.Close()
	h, err = s.OpenACL(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rs, err := h.(store.ACLReplica).ACLRecords(ctx)
	if err != nil || len(rs) != 2 || rs[0].Rights != "" || rs[1].Rights != "lr" {
		t.Fatalf("ACL records after conversion: %+v, %v", rs, err)
	}
	sp := h.(store.SharingPeers)
	if _, _, known, err := sp.SharingPeer(ctx, "peer"); err != nil || known {
		t.Fatalf("peer known after conversion: %v %v", known, err)
	}
	if err := sp.SetSharingPeer(ctx, "peer", rs[1:], nil); err != nil {
		t.Fatal(err)
	}
	if n, err := sp.PruneSharing(ctx, ^uint64(0)>>1); err != nil || n != 0 {
		t.Fatalf("pruned a removal the peer does not hold: %d %v", n, err)
	}
	if err := sp.SetSharingPeer(ctx, "peer", rs, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := sp.PruneSharing(ctx, ^uint64(0)>>1); err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	var v int
	if err := h.(*aclHandle).a.u.r.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("version %d, %v", v, err)
	}
}
