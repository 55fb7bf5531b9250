package pgstore

import (
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestFlagStampsUpgradeFromV14: a database at schema version 14 gets the
// flag stamps table; a synced mailbox's client changes are stamped, and
// the stamps go with an expunged message and with a deleted mailbox.
func TestFlagStampsUpgradeFromV14(t *testing.T) {
	dsn, conn := databaseAt(t, 14)
	s := openTest(t, dsn, Options{NoListen: true})
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := conn.QueryRow(ctx, `SELECT max(version) FROM tidemark_schema`).Scan(&v); err != nil || v != SchemaVersion || v < 15 {
		t.Fatalf("schema version %d (SchemaVersion %d), %v", v, SchemaVersion, err)
	}
	a, err := s.Open(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	box, err := a.CreateMailbox(ctx, "Work", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []store.NewMessage
	for range 3 {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader("Subject: x\r\n\r\nbody\r\n")})
	}
	if _, err := a.Append(ctx, box.ID, msgs); err != nil {
		t.Fatal(err)
	}
	r, err := s.OpenReplica(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Apply(ctx, box.ID, store.Batch{KeepHistory: true}); err != nil {
		t.Fatal(err)
	}
	res, err := a.SetFlags(ctx, box.ID, store.UIDSetOf(1, 2), store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := r.ReadRound(ctx, box.ID, 0, store.UIDSetOf(1, 2, 3))
	if err != nil || len(rd.Stamps) != 2 || rd.Stamps[2][`\seen`] != res.ModSeq {
		t.Fatalf("stamps: %v, %v (modseq %d)", rd.Stamps, err, res.ModSeq)
	}
	count := func() int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM flag_stamps`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := a.Expunge(ctx, box.ID, store.UIDSetOf(1)); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d stamp rows after expunging one of two stamped messages", n)
	}
	if err := a.DeleteMailbox(ctx, "Work"); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d stamp rows after the mailbox was deleted", n)
	}
}
