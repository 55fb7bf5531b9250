package sqlitestore

import (
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// undoV12 turns a current database back into schema version 11.
var undoV12 = append(slices.Clone(undoV13),
	`DROP TRIGGER flag_stamps_message_deleted`,
	`DROP TRIGGER flag_stamps_message_moved`,
	`DROP TABLE flag_stamps`,
	`ALTER TABLE metadata DROP COLUMN stamp`,
	`ALTER TABLE mailbox_tombstones DROP COLUMN seen`,
)

// TestMigrateV11 converts a version 11 database: the flag stamps table
// appears, a synced mailbox's messages take stamps from the next change
// (none before), mail stays, and an expunged message's stamps go with it.
func TestMigrateV11(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	a := aliceAccount(t, s)
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 3, store.Flags{System: store.FlagSeen})
	r, err := s.OpenReplica(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(ctx, inbox.ID, store.Batch{KeepHistory: true}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	a.Close()
	s.Close()
	downgradeAlice(t, dir, append(undoV12, `PRAGMA user_version = 11`)...)

	s = openStore(t, dir, Options{})
	defer s.Close()
	a2, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	r, err = s.OpenReplica(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rd, err := r.ReadRound(ctx, inbox.ID, 0, store.UIDSetOf(1, 2, 3))
	if err != nil || len(rd.Messages) != 3 || len(rd.Stamps) != 0 {
		t.Fatalf("after conversion: %d messages, stamps %v, %v", len(rd.Messages), rd.Stamps, err)
	}
	res, err := a2.SetFlags(ctx, inbox.ID, store.UIDSetOf(1, 2), store.FlagsAdd, store.Flags{Keywords: []string{"k"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	rd, err = r.ReadRound(ctx, inbox.ID, 0, store.UIDSetOf(1, 2, 3))
	if err != nil || len(rd.Stamps) != 2 || rd.Stamps[1]["k"] != res.ModSeq || rd.Stamps[2]["k"] != res.ModSeq {
		t.Fatalf("stamps after a change: %v, %v (modseq %d)", rd.Stamps, err, res.ModSeq)
	}
	if _, err := a2.Expunge(ctx, inbox.ID, store.UIDSetOf(1)); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := a2.u.r.QueryRowContext(ctx, `SELECT count(*) FROM flag_stamps`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d stamp rows after expunging one of two stamped messages, %v", n, err)
	}
	assertClean(t, s, "alice")
}

// TestFlagStampsSkippedChunk: a STORE over two UID ranges with a whole
// chunk between them, not loaded, whose messages have stamps of the flag
// changed: the stamps of the messages on both sides are written as long
// runs (deleted by range first), which must not reach across the chunk
// left out.
func TestFlagStampsSkippedChunk(t *testing.T) {
	withChunkMax(t, 4)
	s := openStore(t, t.TempDir(), Options{})
	a := aliceAccount(t, s)
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 60, store.Flags{})
	r := newReplica(t, s)
	if _, err := r.Apply(ctx, inbox.ID, store.Batch{KeepHistory: true}); err != nil {
		t.Fatal(err)
	}
	seen := store.Flags{System: store.FlagSeen}
	middle, err := a.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 21, Stop: 24}}, store.FlagsAdd, seen, 0)
	if err != nil || len(middle.Changed) != 4 {
		t.Fatalf("%+v, %v", middle, err)
	}
	sides, err := a.SetFlags(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 20}, {Start: 25, Stop: 60}}, store.FlagsAdd, seen, 0)
	if err != nil || len(sides.Changed) != 56 {
		t.Fatalf("%+v, %v", sides, err)
	}
	rd, err := r.ReadRound(ctx, inbox.ID, 0, store.UIDSet{{Start: 1, Stop: 60}})
	if err != nil {
		t.Fatal(err)
	}
	for u := store.UID(1); u <= 60; u++ {
		want := sides.ModSeq
		if u >= 21 && u <= 24 {
			want = middle.ModSeq
		}
		if got := rd.Stamps[u]; len(got) != 1 || got[`\seen`] != want {
			t.Fatalf("UID %d: stamps %v, want \\seen at %d", u, got, want)
		}
	}
}
