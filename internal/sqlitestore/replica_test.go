package sqlitestore

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func newReplica(t testing.TB, s *Store) *Replica {
	t.Helper()
	r, err := s.OpenReplica(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r.(*Replica)
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// A chosen UIDVALIDITY is accepted only when the store can prove the
// name never had it: not after a delete, not for a rename's new name.
func TestReplicaCreateMailboxUIDValidity(t *testing.T) {
	s, a := newAccount(t)
	r := newReplica(t, s)

	m, err := r.CreateMailbox(ctx, "Lists/go", 1000, store.CreateOptions{SpecialUse: `\Archive`})
	if err != nil {
		t.Fatal(err)
	}
	if m.UIDValidity != 1000 || m.UIDNext != 1 || m.SpecialUse != `\Archive` {
		t.Fatalf("created %+v", m)
	}
	if p := mustMailbox(t, a, "Lists"); p.UIDValidity == 1000 {
		t.Fatalf("parent got the chosen UIDVALIDITY")
	}
	// Again while still empty: the same mailbox (a resumed run).
	if again, err := r.CreateMailbox(ctx, "Lists/go", 1000, store.CreateOptions{}); err != nil || again.ID != m.ID {
		t.Fatalf("repeat: %+v, %v", again, err)
	}
	if err := a.DeleteMailbox(ctx, "Lists/go"); err != nil {
		t.Fatal(err)
	}
	_, err = r.CreateMailbox(ctx, "Lists/go", 1000, store.CreateOptions{})
	assertErr(t, err, store.ErrUIDValidityUsed)
	if m, err = r.CreateMailbox(ctx, "Lists/go", 1001, store.CreateOptions{}); err != nil || m.UIDValidity != 1001 {
		t.Fatalf("%+v, %v", m, err)
	}
	// The new name of a rename has had the mailbox's UIDVALIDITY.
	if err := a.RenameMailbox(ctx, "Lists/go", "Lists/golang"); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteMailbox(ctx, "Lists/golang"); err != nil {
		t.Fatal(err)
	}
	_, err = r.CreateMailbox(ctx, "Lists/golang", 1001, store.CreateOptions{})
	assertErr(t, err, store.ErrUIDValidityUsed)
	_, err = r.CreateMailbox(ctx, "x", 0, store.CreateOptions{})
	assertErr(t, err, store.ErrUIDValidityUsed)

	// INBOX exists from the start and is empty: adopted.
	inbox := mustMailbox(t, a, "INBOX")
	got, err := r.CreateMailbox(ctx, "inbox", 777, store.CreateOptions{})
	if err != nil || got.ID != inbox.ID || got.UIDValidity != 777 || got.HighestModSeq <= inbox.HighestModSeq {
		t.Fatalf("adopt INBOX: %+v, %v (before %+v)", got, err, inbox)
	}
	appendN(t, a, inbox.ID, 1, store.Flags{})
	_, err = r.CreateMailbox(ctx, "INBOX", 778, store.CreateOptions{})
	assertErr(t, err, store.ErrMailboxExists)

	// A value ahead of the store's counter moves the counter past it.
	ahead := uint32(time.Now().Unix()) + 100000
	if _, err := r.CreateMailbox(ctx, "future", ahead, store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	next, err := a.CreateMailbox(ctx, "after", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if next.UIDValidity <= ahead {
		t.Fatalf("UIDVALIDITY %d handed out after %d was chosen", next.UIDValidity, ahead)
	}
	assertClean(t, s, "alice")
}

// A database from before schema version 5 knows no history: values
// below the counter at upgrade time are refused, later ones accepted.
func TestReplicaUpgradeFromV4(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	a, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	old, err := a.CreateMailbox(ctx, "old", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	s.Close()
	db, err := sql.Open("sqlite", dsn(filepath.Join(dir, "users", "alice", "meta.db"), false))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range append(undoV6, `DROP TABLE sync_state`, `DROP TABLE uidvalidity_history`,
		`DELETE FROM meta WHERE key = 'uidvalidity_history_from'`, `PRAGMA user_version = 4`) {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s = openStore(t, dir, Options{})
	r := newReplica(t, s)
	_, err = r.CreateMailbox(ctx, "gone", old.UIDValidity-1, store.CreateOptions{})
	assertErr(t, err, store.ErrUIDValidityUsed)
	_, err = r.CreateMailbox(ctx, "old2", old.UIDValidity, store.CreateOptions{})
	assertErr(t, err, store.ErrUIDValidityUsed)
	ahead := uint32(time.Now().Unix()) + 1000
	if _, err := r.CreateMailbox(ctx, "new", ahead, store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := r.SyncState(ctx, "peer")
	if err != nil || len(st) != 0 {
		t.Fatalf("sync state after upgrade: %v, %v", st, err)
	}
	assertClean(t, s, "alice")
}

// Apply appends at given UIDs with the given dates and object ids, by
// content hash without bytes, replaces flags, expunges and raises UIDNEXT,
// all at one modseq at or above the one asked for.
func TestReplicaApply(t *testing.T) {
	s, a := newAccount(t)
	r := newReplica(t, s)
	mb, err := r.CreateMailbox(ctx, "copy", 5000, store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	date := time.Date(2020, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))
	saved := time.Date(2021, 1, 2, 3, 4, 5, 0, time.UTC)
	body1, body2 := testMessage(1, ""), testMessage(2, "")
	res, err := r.Apply(ctx, mb.ID, store.Batch{
		Append: []store.ReplicaMessage{
			{UID: 5, Body: strings.NewReader(body1), ContentHash: hashOf(body1), Flags: store.Flags{System: store.FlagSeen, Keywords: []string{"Work"}},
				InternalDate: date, SaveDate: saved, EmailID: "Mabc", ThreadID: "Tdef"},
			{UID: 9, Body: strings.NewReader(body2)},
			{Body: strings.NewReader(testMessage(3, ""))},
		},
		ModSeq: 700,
		Peer:   "imap://src", State: map[string][]byte{"copy": []byte("s1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Appended, []store.UID{5, 9, 10}) || res.ModSeq != 700 || res.UIDValidity != 5000 {
		t.Fatalf("apply: %+v", res)
	}
	var got []*store.MessageData
	if err := a.Messages(ctx, mb.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}}, func(m *store.MessageData) error {
		got = append(got, m)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	m := got[0]
	if m.UID != 5 || !m.InternalDate.Equal(date) || !m.SaveDate.Equal(saved) || m.EmailID != "Mabc" || m.ThreadID != "Tdef" ||
		m.Flags.System != store.FlagSeen || !m.Flags.Has("Work") || m.ModSeq != 700 {
		t.Fatalf("message 5: %+v", m)
	}
	if got[1].EmailID == "" || got[1].ThreadID == "" || got[1].EmailID == "Mabc" {
		t.Fatalf("assigned object ids: %+v", got[1])
	}
	// A reply delivered later joins the kept thread.
	reply := "From: c@example.org\r\nSubject: Re: message 1\r\nMessage-ID: <r1@example.org>\r\nIn-Reply-To: <m1@example.org>\r\n\r\nyes\r\n"
	inbox := mustMailbox(t, a, "INBOX")
	ar, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader(reply)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Messages(ctx, inbox.ID, store.UIDSetOf(ar.UIDs...), func(m *store.MessageData) error {
		if m.ThreadID != "Tdef" {
			t.Errorf("reply to a message with a kept THREADID got thread %s", m.ThreadID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Below UIDNEXT: refused, and nothing of the batch (its state either)
	// is written.
	_, err = r.Apply(ctx, mb.ID, store.Batch{Append: []store.ReplicaMessage{{UID: 10, Body: strings.NewReader(body1)}},
		Peer: "imap://src", State: map[string][]byte{"copy": []byte("bad")}})
	assertErr(t, err, store.ErrInvalidUID)
	if st, _ := r.SyncState(ctx, "imap://src"); string(st["copy"]) != "s1" {
		t.Fatalf("state after a failed batch: %q", st["copy"])
	}

	// By hash: no body read, same bytes and structure.
	has, err := r.HasContent(ctx, []string{hashOf(body1), hashOf("nothing")})
	if err != nil || !has[hashOf(body1)] || has[hashOf("nothing")] {
		t.Fatalf("HasContent: %v, %v", has, err)
	}
	res, err = r.Apply(ctx, mb.ID, store.Batch{Append: []store.ReplicaMessage{{UID: 20, ContentHash: hashOf(body1)}}, UIDNext: 30})
	if err != nil || !slices.Equal(res.Appended, []store.UID{20}) {
		t.Fatalf("append by hash: %+v, %v", res, err)
	}
	_, err = r.Apply(ctx, mb.ID, store.Batch{Append: []store.ReplicaMessage{{ContentHash: hashOf("nothing")}}})
	assertErr(t, err, store.ErrContentMismatch)
	_, err = r.Apply(ctx, mb.ID, store.Batch{Append: []store.ReplicaMessage{{Body: strings.NewReader(body2), ContentHash: hashOf(body1)}}})
	assertErr(t, err, store.ErrContentMismatch)
	found, err := r.FindContent(ctx, mb.ID, []string{hashOf(body1), hashOf(body2), hashOf("nothing")})
	if err != nil || !slices.Equal(found[hashOf(body1)], []store.UID{5, 20}) || !slices.Equal(found[hashOf(body2)], []store.UID{9}) || len(found) != 2 {
		t.Fatalf("FindContent: %v, %v", found, err)
	}
	st, err := a.Status(ctx, mb.ID)
	if err != nil || st.UIDNext != 30 || st.Messages != 4 || st.Unseen != 3 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	var bySize int64
	if err := a.Messages(ctx, mb.ID, store.UIDSetOf(20), func(m *store.MessageData) error {
		bySize = m.Size
		if m.BlobID != hashOf(body1) || m.Structure == nil || m.Structure.Search.Subject != "message 1" {
			t.Errorf("message by hash: %+v", m)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if bySize != int64(len(body1)) {
		t.Fatalf("size %d", bySize)
	}

	// Flags: exact replacement; a batch that changes nothing allocates
	// nothing.
	before, _ := a.Mailbox(ctx, "copy")
	res, err = r.Apply(ctx, mb.ID, store.Batch{Flags: []store.MessageState{
		{UID: 5, Flags: store.Flags{System: store.FlagSeen, Keywords: []string{"Work"}}}, {UID: 6}}, UIDNext: 3})
	if err != nil || res.ModSeq != 0 {
		t.Fatalf("no-op batch: %+v, %v", res, err)
	}
	if after, _ := a.Mailbox(ctx, "copy"); after.HighestModSeq != before.HighestModSeq {
		t.Fatalf("no-op batch moved HIGHESTMODSEQ %d -> %d", before.HighestModSeq, after.HighestModSeq)
	}
	res, err = r.Apply(ctx, mb.ID, store.Batch{
		Flags:   []store.MessageState{{UID: 9, Flags: store.Flags{System: store.FlagSeen | store.FlagDeleted}}, {UID: 5}},
		Expunge: store.UIDSetOf(10, 11),
	})
	if err != nil || res.ModSeq != before.HighestModSeq+1 || !slices.Equal(res.Expunged.UIDs(), []store.UID{10}) {
		t.Fatalf("flags and expunge: %+v, %v", res, err)
	}
	ch, err := a.ChangesSince(ctx, mb.ID, before.HighestModSeq)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Changed) != 2 || ch.Changed[0].UID != 5 || ch.Changed[0].Flags.System != 0 || len(ch.Changed[0].Flags.Keywords) != 0 ||
		ch.Changed[1].UID != 9 || !slices.Equal(ch.Vanished.UIDs(), []store.UID{10}) {
		t.Fatalf("changes: %+v", ch)
	}
	st, _ = a.Status(ctx, mb.ID)
	if st.Messages != 3 || st.Deleted != 1 || st.Unseen != 2 {
		t.Fatalf("status: %+v", st)
	}
	assertClean(t, s, "alice")
}

// Sync state: per peer, deleted by nil, alone with mailbox 0.
func TestReplicaSyncState(t *testing.T) {
	s, _ := newAccount(t)
	r := newReplica(t, s)
	if _, err := r.Apply(ctx, 0, store.Batch{Peer: "p1", State: map[string][]byte{"a": []byte("1"), "b": {}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(ctx, 0, store.Batch{Peer: "p2", State: map[string][]byte{"a": []byte("2")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(ctx, 0, store.Batch{Peer: "p1", State: map[string][]byte{"a": nil}}); err != nil {
		t.Fatal(err)
	}
	st, err := r.SyncState(ctx, "p1")
	if err != nil || len(st) != 1 || st["b"] == nil || len(st["b"]) != 0 {
		t.Fatalf("p1: %q, %v", st, err)
	}
	if st, _ := r.SyncState(ctx, "p2"); string(st["a"]) != "2" {
		t.Fatalf("p2: %q", st)
	}
	_, err = r.Apply(ctx, 0, store.Batch{Expunge: store.UIDSetOf(1)})
	assertErr(t, err, store.ErrNoMailbox)
	_, err = r.Apply(ctx, 0, store.Batch{State: map[string][]byte{"a": nil}})
	assertErr(t, err, store.ErrCannot)
}

// A database restored from a backup lacks the UIDVALIDITY history written
// after the backup: values below the counter are refused from then on.
func TestReplicaUIDValidityAfterRestore(t *testing.T) {
	withStep(t, 4)
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	s.CreateUser(ctx, "alice")
	s.Close()
	db := filepath.Join(dir, "users", "alice", "meta.db")
	copyFile(t, db, db+".backup")

	s = openStore(t, dir, Options{})
	r, err := s.OpenReplica(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CreateMailbox(ctx, "x", 5000, store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	bump(t, s, 10) // move the modseq reservation past the backup's
	s.Close()
	copyFile(t, db+".backup", db)

	s = openStore(t, dir, Options{})
	r2 := newReplica(t, s)
	_, err = r2.CreateMailbox(ctx, "x", 5000, store.CreateOptions{})
	assertErr(t, err, store.ErrUIDValidityUsed)
	assertClean(t, s, "alice")
}

// The highest UID a message can get is MaxUID-1: UIDNEXT must stay a
// 32-bit number. Beyond, appends fail and change nothing.
func TestReplicaUIDLimit(t *testing.T) {
	s, a := newAccount(t)
	r := newReplica(t, s)
	mb, err := r.CreateMailbox(ctx, "top", 77, store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Apply(ctx, mb.ID, store.Batch{Append: []store.ReplicaMessage{{UID: store.MaxUID - 1, Body: strings.NewReader(testMessage(1, ""))}}})
	if err != nil || res.Appended[0] != store.MaxUID-1 {
		t.Fatalf("%+v, %v", res, err)
	}
	if st, _ := a.Status(ctx, mb.ID); st.UIDNext != store.MaxUID || st.Messages != 1 {
		t.Fatalf("status %+v", st)
	}
	_, err = r.Apply(ctx, mb.ID, store.Batch{Append: []store.ReplicaMessage{{Body: strings.NewReader(testMessage(2, ""))}}})
	assertErr(t, err, store.ErrCannot)
	_, err = a.Append(ctx, mb.ID, []store.NewMessage{{Body: strings.NewReader(testMessage(3, ""))}})
	assertErr(t, err, store.ErrCannot)
	if st, _ := a.Status(ctx, mb.ID); st.UIDNext != store.MaxUID || st.Messages != 1 {
		t.Fatalf("status after refused appends %+v", st)
	}
	assertClean(t, s, "alice")
}
