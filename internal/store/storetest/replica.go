package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// The store.Replica half of the suite: import and migration (chosen
// UIDVALIDITYs and UIDs, content by hash, sync state in the same commit)
// and replication between servers (peer modseqs, the account level, flag
// history, peer state), the same for every backend.

// replicaTests are run by Run.
var replicaTests = []struct {
	name string
	fn   func(*testing.T, Backend)
}{
	{"ReplicaCreateMailboxUIDValidity", testReplicaCreateMailboxUIDValidity},
	{"ReplicaApply", testReplicaApply},
	{"ReplicaSyncState", testReplicaSyncState},
	{"ReplicaUIDLimit", testReplicaUIDLimit},
	{"ReplicaDerived", testReplicaDerived}, // derived.go
	{"MailboxGUID", testMailboxGUID},
	{"AccountChanges", testAccountChanges},
	{"ApplyAtPeerModseq", testApplyAtPeerModseq},
	{"ApplyUnchangedSince", testApplyUnchangedSince},
	{"QresyncAfterRaise", testQresyncAfterRaise},
	{"FlagsAt", testFlagsAt},
	{"PruneKeepsPeerHistory", testPruneKeepsPeerHistory},
	{"ApplyAccount", testApplyAccount},
	{"ApplyExpungeBelowUIDNext", testApplyExpungeBelowUIDNext},
	{"TombstoneNamesEvery", testTombstoneNamesEvery},
	{"ReadRound", testReadRound},
	{"ReadRoundSnapshot", testReadRoundSnapshot},
	{"ApplyMetadata", testApplyMetadata},
	{"PastTombstoneOtherPeer", testPastTombstoneOtherPeer},
	{"FlagStamps", testFlagStamps},
	{"FlagStampsBulk", testFlagStampsBulk},
	{"MailboxTombstoneSeen", testMailboxTombstoneSeen},
	{"PruneMailboxTombstones", testPruneMailboxTombstones},
}

func newReplica(t testing.TB, s store.Store) store.Replica {
	t.Helper()
	r, err := s.OpenReplica(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// A chosen UIDVALIDITY is accepted only when the store can prove the
// name never had it: not after a delete, not for a rename's new name.
func testReplicaCreateMailboxUIDValidity(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)

	m, err := r.CreateMailbox(ctx, "Lists/go", 1000, store.CreateOptions{SpecialUse: `\Archive`})
	if err != nil {
		t.Fatal(err)
	}
	if m.UIDValidity != 1000 || m.UIDNext != 1 || m.SpecialUse != `\Archive` {
		t.Fatalf("created %+v", m)
	}
	if p := MustMailbox(t, a, "Lists"); p.UIDValidity == 1000 {
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
	AssertErr(t, err, store.ErrUIDValidityUsed)
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
	AssertErr(t, err, store.ErrUIDValidityUsed)
	_, err = r.CreateMailbox(ctx, "x", 0, store.CreateOptions{})
	AssertErr(t, err, store.ErrUIDValidityUsed)

	// INBOX exists from the start and is empty: adopted.
	inbox := MustMailbox(t, a, "INBOX")
	got, err := r.CreateMailbox(ctx, "inbox", 777, store.CreateOptions{})
	if err != nil || got.ID != inbox.ID || got.UIDValidity != 777 || got.HighestModSeq <= inbox.HighestModSeq {
		t.Fatalf("adopt INBOX: %+v, %v (before %+v)", got, err, inbox)
	}
	AppendN(t, a, inbox.ID, 1, store.Flags{})
	_, err = r.CreateMailbox(ctx, "INBOX", 778, store.CreateOptions{})
	AssertErr(t, err, store.ErrMailboxExists)

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
	AssertClean(t, s, "alice")
}

// Apply appends at given UIDs with the given dates and object ids, by
// content hash without bytes, replaces flags, expunges and raises UIDNEXT,
// all at one modseq at or above the one asked for.
func testReplicaApply(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	mb, err := r.CreateMailbox(ctx, "copy", 5000, store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	date := time.Date(2020, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))
	saved := time.Date(2021, 1, 2, 3, 4, 5, 0, time.UTC)
	body1, body2 := MessageText(1, ""), MessageText(2, "")
	res, err := r.Apply(ctx, mb.ID, store.Batch{
		Append: []store.ReplicaMessage{
			{UID: 5, Body: strings.NewReader(body1), ContentHash: hashOf(body1), Flags: store.Flags{System: store.FlagSeen, Keywords: []string{"Work"}},
				InternalDate: date, SaveDate: saved, EmailID: "Mabc", ThreadID: "Tdef"},
			{UID: 9, Body: strings.NewReader(body2)},
			{Body: strings.NewReader(MessageText(3, ""))},
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
	inbox := MustMailbox(t, a, "INBOX")
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
	AssertErr(t, err, store.ErrInvalidUID)
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
	AssertErr(t, err, store.ErrContentMismatch)
	_, err = r.Apply(ctx, mb.ID, store.Batch{Append: []store.ReplicaMessage{{Body: strings.NewReader(body2), ContentHash: hashOf(body1)}}})
	AssertErr(t, err, store.ErrContentMismatch)
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
	AssertClean(t, s, "alice")
}

// Sync state: per peer, deleted by nil, alone with mailbox 0.
func testReplicaSyncState(t *testing.T, be Backend) {
	s, _ := be.newAccount(t)
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
	AssertErr(t, err, store.ErrNoMailbox)
	_, err = r.Apply(ctx, 0, store.Batch{State: map[string][]byte{"a": nil}})
	AssertErr(t, err, store.ErrCannot)
}

// The highest UID a message can get is MaxUID-1: UIDNEXT must stay a
// 32-bit number. Beyond, appends fail and change nothing.
func testReplicaUIDLimit(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	mb, err := r.CreateMailbox(ctx, "top", 77, store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Apply(ctx, mb.ID, store.Batch{Append: []store.ReplicaMessage{{UID: store.MaxUID - 1, Body: strings.NewReader(MessageText(1, ""))}}})
	if err != nil || res.Appended[0] != store.MaxUID-1 {
		t.Fatalf("%+v, %v", res, err)
	}
	if st, _ := a.Status(ctx, mb.ID); st.UIDNext != store.MaxUID || st.Messages != 1 {
		t.Fatalf("status %+v", st)
	}
	_, err = r.Apply(ctx, mb.ID, store.Batch{Append: []store.ReplicaMessage{{Body: strings.NewReader(MessageText(2, ""))}}})
	AssertErr(t, err, store.ErrCannot)
	_, err = a.Append(ctx, mb.ID, []store.NewMessage{{Body: strings.NewReader(MessageText(3, ""))}})
	AssertErr(t, err, store.ErrCannot)
	if st, _ := a.Status(ctx, mb.ID); st.UIDNext != store.MaxUID || st.Messages != 1 {
		t.Fatalf("status after refused appends %+v", st)
	}
	AssertClean(t, s, "alice")
}

// testMailboxGUID: every mailbox gets its own replicated id at creation,
// and a rename keeps it (RFC 8474 4.1).
func testMailboxGUID(t *testing.T, be Backend) {
	s, acct := be.newAccount(t)
	r := newReplica(t, s)
	a, err := acct.CreateMailbox(ctx, "a", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := acct.CreateMailbox(ctx, "b", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inbox := MustMailbox(t, acct, "INBOX")
	if a.GUID == "" || a.GUID == b.GUID || inbox.GUID == a.GUID || !strings.HasPrefix(a.GUID, "M") {
		t.Fatalf("ids %q %q %q", inbox.GUID, a.GUID, b.GUID)
	}
	if err := acct.RenameMailbox(ctx, "a", "c/d"); err != nil {
		t.Fatal(err)
	}
	got, err := r.MailboxByGUID(ctx, a.GUID)
	if err != nil || got.Name != "c/d" || got.ID != a.ID {
		t.Fatalf("after rename: %+v, %v", got, err)
	}
	if _, err := r.MailboxByGUID(ctx, "Mnope"); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("unknown id: %v", err)
	}
}

// testAccountChanges: mailbox and subscription changes take increasing
// stamps from the account counter, a deletion leaves a mailbox tombstone,
// and a change already true takes none.
func testAccountChanges(t *testing.T, be Backend) {
	s, acct := be.newAccount(t)
	r := newReplica(t, s)
	st0, err := r.AccountState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, err := acct.CreateMailbox(ctx, "a", store.CreateOptions{SpecialUse: `\Archive`})
	if err != nil {
		t.Fatal(err)
	}
	if a.Changed <= st0.Counter {
		t.Fatalf("create stamped %d, counter was %d", a.Changed, st0.Counter)
	}
	if err := acct.RenameMailbox(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	b := MustMailbox(t, acct, "b")
	if b.Changed <= a.Changed {
		t.Fatalf("rename stamped %d after %d", b.Changed, a.Changed)
	}
	if err := acct.SetSubscribed(ctx, "b", true); err != nil {
		t.Fatal(err)
	}
	st1, _ := r.AccountState(ctx)
	if err := acct.SetSubscribed(ctx, "b", true); err != nil {
		t.Fatal(err)
	}
	st2, _ := r.AccountState(ctx)
	if st2.Counter != st1.Counter {
		t.Fatalf("subscribing again moved the counter %d → %d", st1.Counter, st2.Counter)
	}
	if err := acct.SetSubscribed(ctx, "b", false); err != nil {
		t.Fatal(err)
	}
	if err := acct.DeleteMailbox(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	st, err := r.AccountState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Deleted) != 1 || st.Deleted[0].GUID != a.GUID || st.Deleted[0].Name != "b" || st.Deleted[0].Changed != st.Counter {
		t.Fatalf("mailbox tombstones %+v (counter %d)", st.Deleted, st.Counter)
	}
	if len(st.Subscriptions) != 1 || st.Subscriptions[0].Subscribed || st.Subscriptions[0].Changed <= st2.Counter {
		t.Fatalf("subscriptions %+v", st.Subscriptions)
	}
}

func replicaMessage(uid store.UID, ms store.ModSeq, body string, flags store.Flags) store.ReplicaMessage {
	sum := sha256.Sum256([]byte(body))
	return store.ReplicaMessage{UID: uid, ModSeq: ms, Flags: flags, Body: strings.NewReader(body), ContentHash: hex.EncodeToString(sum[:]),
		InternalDate: time.Unix(1700000000, 0).UTC(), SaveDate: time.Unix(1700000100, 0),
		EmailID: "Memail" + string(rune('a'+uid)), ThreadID: "Tthread"}
}

// testApplyAtPeerModseq: appends land at the peer's UIDs with its identity
// and at its modseqs (above HIGHESTMODSEQ), each distinct peer modseq its
// own local one, in one transaction; resending the batch changes nothing
// and allocates no modseq; flags are set absolutely in one batch.
func testApplyAtPeerModseq(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	mb, err := a.CreateMailbox(ctx, "x", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	batch := store.Batch{Append: []store.ReplicaMessage{
		replicaMessage(3, 10, MessageText(1, ""), store.Flags{System: store.FlagSeen}),
		replicaMessage(7, 12, MessageText(2, ""), store.Flags{Keywords: []string{"Work"}}),
		replicaMessage(8, 12, MessageText(3, ""), store.Flags{}),
	}, UIDNext: 11}
	res, err := r.Apply(ctx, mb.ID, batch)
	if err != nil {
		t.Fatal(err)
	}
	if res.Before != 1 || res.After != 12 || res.UIDNext != 11 {
		t.Fatalf("apply: %+v", res)
	}
	snap, err := a.Snapshot(ctx, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.MessageState{
		{UID: 3, ModSeq: 10, Flags: store.Flags{System: store.FlagSeen}},
		{UID: 7, ModSeq: 12, Flags: store.Flags{Keywords: []string{"Work"}}},
		{UID: 8, ModSeq: 12},
	}
	if !statesEqual(snap.Messages, want) || snap.Mailbox.UIDNext != 11 {
		t.Fatalf("snapshot %+v", snap)
	}
	var datas []*store.MessageData
	a.Messages(ctx, mb.ID, store.UIDSetOf(3), func(m *store.MessageData) error { datas = append(datas, m); return nil })
	if len(datas) != 1 || datas[0].EmailID != "Memaild" || datas[0].ThreadID != "Tthread" ||
		datas[0].SaveDate.Unix() != 1700000100 || datas[0].InternalDate.Unix() != 1700000000 {
		t.Fatalf("message data %+v", datas[0])
	}

	// Appending again below UIDNEXT is refused: UIDs are never reused.
	batch.Append = batch.Append[:1]
	batch.Append[0].Body = nil
	if _, err = r.Apply(ctx, mb.ID, batch); !errors.Is(err, store.ErrInvalidUID) {
		t.Fatalf("resend: %v", err)
	}

	// Absolute flags for many messages at once; a peer modseq below ours
	// gets HIGHESTMODSEQ+1; unchanged flags allocate nothing.
	res, err = r.Apply(ctx, mb.ID, store.Batch{Flags: []store.MessageState{
		{UID: 3, ModSeq: 5, Flags: store.Flags{System: store.FlagFlagged}},
		{UID: 7, ModSeq: 5, Flags: store.Flags{Keywords: []string{"Work"}}},
		{UID: 8, ModSeq: 20, Flags: store.Flags{Keywords: []string{"x"}}},
		{UID: 9, ModSeq: 20, Flags: store.Flags{Keywords: []string{"gone"}}},
	}})
	if err != nil || res.After != 20 {
		t.Fatalf("flags: %+v, %v", res, err)
	}
	snap, _ = a.Snapshot(ctx, mb.ID)
	want = []store.MessageState{
		{UID: 3, ModSeq: 13, Flags: store.Flags{System: store.FlagFlagged}},
		{UID: 7, ModSeq: 12, Flags: store.Flags{Keywords: []string{"Work"}}},
		{UID: 8, ModSeq: 20, Flags: store.Flags{Keywords: []string{"x"}}},
	}
	if !statesEqual(snap.Messages, want) {
		t.Fatalf("after flags: %+v", snap.Messages)
	}

	// The same flags again change nothing and allocate nothing.
	res, err = r.Apply(ctx, mb.ID, store.Batch{Flags: []store.MessageState{{UID: 8, ModSeq: 21, Flags: store.Flags{Keywords: []string{"x"}}}}})
	if err != nil || res.Before != 20 || res.After != 20 || res.ModSeq != 0 {
		t.Fatalf("flags again: %+v, %v", res, err)
	}

	// Expunges at the peer's modseq; again, idempotent.
	ex := store.Batch{Expunges: []store.Expunged{{UIDs: store.UIDSetOf(3, 4), ModSeq: 25}}}
	if ts, err := r.Tombstones(ctx, mb.ID, 0); err != nil || len(ts) != 0 {
		t.Fatalf("tombstones before: %+v, %v", ts, err)
	}
	if res, err = r.Apply(ctx, mb.ID, ex); err != nil || res.After != 25 {
		t.Fatalf("expunge: %+v, %v", res, err)
	}
	if res, err = r.Apply(ctx, mb.ID, ex); err != nil || res.After != 25 || res.Before != 25 {
		t.Fatalf("expunge again: %+v, %v", res, err)
	}
	// UID 4, below UIDNEXT but never held here, gets a tombstone too (a
	// client may have seen it on the peer).
	if ts, err := r.Tombstones(ctx, mb.ID, 0); err != nil || len(ts) != 1 || ts[0].ModSeq != 25 || !slices.Equal(ts[0].UIDs.UIDs(), []store.UID{3, 4}) {
		t.Fatalf("tombstones: %+v, %v", ts, err)
	}
	ch, err := a.ChangesSince(ctx, mb.ID, 20)
	if err != nil || !slices.Equal(ch.Vanished.UIDs(), []store.UID{3, 4}) || len(ch.Changed) != 0 {
		t.Fatalf("changes since 20: %+v, %v", ch, err)
	}
	st, _ := a.Status(ctx, mb.ID)
	if st.Messages != 2 || st.Unseen != 2 {
		t.Fatalf("counters %+v", st)
	}
	AssertClean(t, s, "alice")
}

func statesEqual(a, b []store.MessageState) bool {
	return slices.EqualFunc(a, b, func(x, y store.MessageState) bool {
		return x.UID == y.UID && x.ModSeq == y.ModSeq && x.Flags.Equal(y.Flags)
	})
}

// testApplyUnchangedSince: a flag change made here after the replicator
// looked is not overwritten; it is reported instead.
func testApplyUnchangedSince(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	inbox := MustMailbox(t, a, "INBOX")
	AppendN(t, a, inbox.ID, 2, store.Flags{})
	seen := MustMailbox(t, a, "INBOX").HighestModSeq
	if _, err := a.SetFlags(ctx, inbox.ID, store.UIDSetOf(1), store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0); err != nil {
		t.Fatal(err)
	}
	res, err := r.Apply(ctx, inbox.ID, store.Batch{UnchangedSince: seen, Flags: []store.MessageState{
		{UID: 1, ModSeq: 1, Flags: store.Flags{System: store.FlagFlagged}},
		{UID: 2, ModSeq: 1, Flags: store.Flags{System: store.FlagFlagged}},
	}})
	if err != nil || !slices.Equal(res.Modified.UIDs(), []store.UID{1}) {
		t.Fatalf("apply: %+v, %v", res, err)
	}
	snap, _ := a.Snapshot(ctx, inbox.ID)
	if snap.Messages[0].Flags.System != store.FlagSeen || snap.Messages[1].Flags.System != store.FlagFlagged {
		t.Fatalf("flags %+v", snap.Messages)
	}
}

// testQresyncAfterRaise: when modseqs jump to a peer's, "nothing changed
// since M" stays exact: a client at the old HIGHESTMODSEQ gets the change,
// one at the new gets nothing.
func testQresyncAfterRaise(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	inbox := MustMailbox(t, a, "INBOX")
	AppendN(t, a, inbox.ID, 3, store.Flags{})
	old := MustMailbox(t, a, "INBOX").HighestModSeq
	res, err := r.Apply(ctx, inbox.ID, store.Batch{
		Flags:    []store.MessageState{{UID: 2, ModSeq: 1000, Flags: store.Flags{System: store.FlagSeen}}},
		Expunges: []store.Expunged{{UIDs: store.UIDSetOf(3), ModSeq: 1001}},
	})
	if err != nil || res.After != 1001 {
		t.Fatalf("apply %+v, %v", res, err)
	}
	ch, err := a.ChangesSince(ctx, inbox.ID, old)
	if err != nil || len(ch.Changed) != 1 || ch.Changed[0].UID != 2 || ch.Changed[0].ModSeq != 1000 ||
		!slices.Equal(ch.Vanished.UIDs(), []store.UID{3}) || ch.Mailbox.HighestModSeq != 1001 {
		t.Fatalf("changes since %d: %+v, %v", old, ch, err)
	}
	ch, err = a.ChangesSince(ctx, inbox.ID, 1000)
	if err != nil || len(ch.Changed) != 0 || !slices.Equal(ch.Vanished.UIDs(), []store.UID{3}) {
		t.Fatalf("changes since 1000: %+v, %v", ch, err)
	}
	ch, err = a.ChangesSince(ctx, inbox.ID, 1001)
	if err != nil || len(ch.Changed) != 0 || !ch.Vanished.Empty() {
		t.Fatalf("changes since 1001: %+v, %v", ch, err)
	}
	// A local change after the raise continues above it, also after the
	// store is reopened (the durable floor followed the jump).
	if fr, err := a.SetFlags(ctx, inbox.ID, store.UIDSetOf(1), store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0); err != nil || fr.ModSeq != 1002 {
		t.Fatalf("local change: %+v, %v", fr, err)
	}
	// HIGHESTMODSEQ alone may be raised too.
	if res, err := r.Apply(ctx, inbox.ID, store.Batch{HighestModSeq: 5000}); err != nil || res.After != 5000 {
		t.Fatalf("raise: %+v, %v", res, err)
	}
	AssertClean(t, s, "alice")
}

// testFlagsAt: after the history point is set, a change records the flags
// it replaced, and FlagsAt gives the state at that point even after more
// changes; confirmed peers let the history go.
func testFlagsAt(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	inbox := MustMailbox(t, a, "INBOX")
	AppendN(t, a, inbox.ID, 3, store.Flags{System: store.FlagFlagged})
	sync := MustMailbox(t, a, "INBOX").HighestModSeq
	if _, err := r.Apply(ctx, inbox.ID, store.Batch{KeepHistory: true}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []store.Flags{{System: store.FlagSeen}, {Keywords: []string{"a"}}} {
		if _, err := a.SetFlags(ctx, inbox.ID, store.UIDSetOf(1, 2), store.FlagsReplace, f, 0); err != nil {
			t.Fatal(err)
		}
	}
	got, err := r.FlagsAt(ctx, inbox.ID, store.UIDSetOf(1, 2, 3), sync)
	if err != nil || len(got) != 2 || got[1].System != store.FlagFlagged || got[2].System != store.FlagFlagged {
		t.Fatalf("flags at %d: %+v, %v", sync, got, err)
	}
	// At the first change's modseq the history is not kept (it was above
	// the point), so nothing is claimed.
	if got, _ := r.FlagsAt(ctx, inbox.ID, store.UIDSetOf(1), sync+1); len(got) != 0 {
		t.Fatalf("flags at %d: %+v", sync+1, got)
	}
	if err := r.SetPeerState(ctx, "peer", inbox.GUID, store.PeerState{Confirmed: sync + 2}); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.FlagsAt(ctx, inbox.ID, store.UIDSetOf(1, 2), sync); len(got) != 0 {
		t.Fatalf("history kept after every peer confirmed: %+v", got)
	}
}

// testPruneKeepsPeerHistory: tombstones above a peer's confirmed point
// survive pruning.
func testPruneKeepsPeerHistory(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	inbox := MustMailbox(t, a, "INBOX")
	AppendN(t, a, inbox.ID, 4, store.Flags{})
	e1, _ := a.Expunge(ctx, inbox.ID, store.UIDSetOf(1))
	e2, _ := a.Expunge(ctx, inbox.ID, store.UIDSetOf(3)) // not next to 1: tombstones of neighbours merge
	if err := r.SetPeerState(ctx, "peer", inbox.GUID, store.PeerState{Confirmed: e1.ModSeq}); err != nil {
		t.Fatal(err)
	}
	if err := a.PruneTombstones(ctx, inbox.ID, e2.ModSeq); err != nil {
		t.Fatal(err)
	}
	ch, err := a.ChangesSince(ctx, inbox.ID, e1.ModSeq)
	if err != nil || !ch.Exact || !slices.Equal(ch.Vanished.UIDs(), []store.UID{3}) {
		t.Fatalf("changes since the peer's point: %+v, %v", ch, err)
	}
	if ch, _ := a.ChangesSince(ctx, inbox.ID, 0); ch.Exact {
		t.Fatalf("history below the peer's point was kept: %+v", ch)
	}
	// A forgotten peer holds nothing back.
	if err := r.ForgetPeer(ctx, "peer"); err != nil {
		t.Fatal(err)
	}
	if err := a.PruneTombstones(ctx, inbox.ID, e2.ModSeq); err != nil {
		t.Fatal(err)
	}
	if ch, _ := a.ChangesSince(ctx, inbox.ID, e1.ModSeq); ch.Exact {
		t.Fatalf("pruning held back by a forgotten peer: %+v", ch)
	}
}

// testApplyAccount: a peer's mailbox operations by replicated id.
func testApplyAccount(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	ops := []store.AccountOp{
		{Kind: store.OpCreate, GUID: "Mpeer1", Name: "a/b", UIDValidity: 77, SpecialUse: `\Sent`, Stamp: 40},
		{Kind: store.OpSubscribe, Name: "a/b", Stamp: 41},
	}
	res, err := r.ApplyAccount(ctx, ops, "peer", &store.PeerState{Applied: 41})
	if err != nil || res.After != 41 {
		t.Fatalf("apply %+v, %v", res, err)
	}
	// Idempotent: nothing allocated the second time.
	if res, err := r.ApplyAccount(ctx, ops, "peer", nil); err != nil || res.Before != res.After {
		t.Fatalf("again: %+v, %v", res, err)
	}
	m, err := r.MailboxByGUID(ctx, "Mpeer1")
	if err != nil || m.Name != "a/b" || m.UIDValidity != 77 || m.SpecialUse != `\Sent` || m.Changed != 40 {
		t.Fatalf("created %+v, %v", m, err)
	}
	if _, err := a.Mailbox(ctx, "a"); !errors.Is(err, store.ErrNoMailbox) {
		t.Fatalf("parent made: %v", err)
	}
	// A local mailbox created afterwards still gets a larger UIDVALIDITY.
	if n, err := a.CreateMailbox(ctx, "later", store.CreateOptions{}); err != nil || n.UIDValidity <= 77 {
		t.Fatalf("later %+v, %v", n, err)
	}
	st, _ := r.AccountState(ctx)
	if st.Counter < 42 || len(st.Subscriptions) != 1 {
		t.Fatalf("state %+v", st)
	}
	if _, err := r.ApplyAccount(ctx, []store.AccountOp{{Kind: store.OpRename, GUID: "Mpeer1", Name: "c"}}, "peer", nil); err != nil {
		t.Fatal(err)
	}
	if m, _ := r.MailboxByGUID(ctx, "Mpeer1"); m.Name != "c" {
		t.Fatalf("renamed %+v", m)
	}
	_, err = r.ApplyAccount(ctx, []store.AccountOp{{Kind: store.OpRename, GUID: "Mpeer1", Name: "later"}}, "peer", nil)
	if !errors.Is(err, store.ErrMailboxExists) {
		t.Fatalf("rename onto another mailbox: %v", err)
	}
	ps, _ := r.PeerStates(ctx, "peer")
	if ps[""].Applied != 41 {
		t.Fatalf("peer state %+v", ps)
	}
	if _, err := r.ApplyAccount(ctx, []store.AccountOp{{Kind: store.OpDelete, GUID: "Mpeer1", Name: "c"}, {Kind: store.OpDelete, GUID: "Mnever", Name: "z"}}, "peer", nil); err != nil {
		t.Fatal(err)
	}
	st, _ = r.AccountState(ctx)
	if len(st.Deleted) != 2 {
		t.Fatalf("tombstones %+v", st.Deleted)
	}
	// Adopting: an empty INBOX takes a peer's identity.
	inbox := MustMailbox(t, a, "INBOX")
	if _, err := r.ApplyAccount(ctx, []store.AccountOp{{Kind: store.OpAdopt, GUID: inbox.GUID, NewGUID: "Mpeerinbox", UIDValidity: 5}}, "peer", nil); err != nil {
		t.Fatal(err)
	}
	got := MustMailbox(t, a, "INBOX")
	if got.GUID != "Mpeerinbox" || got.UIDValidity != 5 || got.ID != inbox.ID || got.HighestModSeq != inbox.HighestModSeq {
		t.Fatalf("adopted %+v (was %+v)", got, inbox)
	}
	AppendN(t, a, inbox.ID, 1, store.Flags{})
	_, err = r.ApplyAccount(ctx, []store.AccountOp{{Kind: store.OpAdopt, GUID: "Mpeerinbox", NewGUID: "Mother", UIDValidity: 6}}, "peer", nil)
	if !errors.Is(err, store.ErrCannot) {
		t.Fatalf("adopting a mailbox with messages: %v", err)
	}
	AssertClean(t, s, "alice")
}

// testApplyExpungeBelowUIDNext: a peer's expunge of a UID this replica
// never held but whose UIDNEXT already passed it (an earlier transaction of
// a split batch, or a sync that found the message gone on the peer by the
// time it looked it up) still leaves a tombstone at the peer's modseq, so a
// client that saw the UID on the peer learns after failing over that it
// vanished; a UID already tombstoned here changes nothing.
func testApplyExpungeBelowUIDNext(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	mb := MustMailbox(t, a, "INBOX")
	// UIDs 3 and 5 never arrive; UIDNEXT passes them.
	_, err := r.Apply(ctx, mb.ID, store.Batch{Append: []store.ReplicaMessage{
		replicaMessage(1, 5, MessageText(1, ""), store.Flags{}),
		replicaMessage(2, 6, MessageText(2, ""), store.Flags{}),
		replicaMessage(4, 8, MessageText(4, ""), store.Flags{}),
		replicaMessage(6, 9, MessageText(6, ""), store.Flags{}),
	}, UIDNext: 7})
	if err != nil {
		t.Fatal(err)
	}
	seen := MustMailbox(t, a, "INBOX").HighestModSeq
	if seen != 9 {
		t.Fatalf("HIGHESTMODSEQ %d", seen)
	}
	res, err := r.Apply(ctx, mb.ID, store.Batch{Expunges: []store.Expunged{
		{UIDs: store.UIDSetOf(3), ModSeq: 10},
		{UIDs: store.UIDSetOf(5), ModSeq: 13, EmailIDs: map[store.UID]string{5: "Mfive"}},
	}})
	if err != nil || res.After != 13 || !res.Expunged.Empty() {
		t.Fatalf("expunge: %+v, %v", res, err)
	}
	ts, err := r.Tombstones(ctx, mb.ID, 0)
	if err != nil || len(ts) != 2 || ts[0].ModSeq != 10 || !slices.Equal(ts[0].UIDs.UIDs(), []store.UID{3}) ||
		ts[1].ModSeq != 13 || !slices.Equal(ts[1].UIDs.UIDs(), []store.UID{5}) || ts[1].EmailIDs[5] != "Mfive" {
		t.Fatalf("tombstones: %+v, %v", ts, err)
	}
	for _, c := range []struct {
		since store.ModSeq
		want  []store.UID
	}{{seen, []store.UID{3, 5}}, {10, []store.UID{5}}, {13, nil}} {
		ch, err := a.ChangesSince(ctx, mb.ID, c.since)
		if err != nil || !slices.Equal(ch.Vanished.UIDs(), c.want) || len(ch.Changed) != 0 {
			t.Fatalf("changes since %d: %+v, %v; want vanished %v", c.since, ch, err, c.want)
		}
	}
	// Again: already tombstoned, nothing changes, no modseq.
	res, err = r.Apply(ctx, mb.ID, store.Batch{Expunges: []store.Expunged{{UIDs: store.UIDSetOf(3, 5), ModSeq: 20}}})
	if err != nil || res.Before != 13 || res.After != 13 || res.ModSeq != 0 {
		t.Fatalf("expunge again: %+v, %v", res, err)
	}
	// A range over held, tombstoned and missing UIDs: the held one goes,
	// the tombstoned ones stay where they are, the rest get a tombstone.
	if _, err := a.Expunge(ctx, mb.ID, store.UIDSetOf(2)); err != nil { // local, modseq 14
		t.Fatal(err)
	}
	res, err = r.Apply(ctx, mb.ID, store.Batch{Expunges: []store.Expunged{{UIDs: store.UIDSet{{Start: 1, Stop: 6}}, ModSeq: 30}}})
	if err != nil || res.After != 30 || !slices.Equal(res.Expunged.UIDs(), []store.UID{1, 4, 6}) {
		t.Fatalf("range: %+v, %v", res, err)
	}
	ch, err := a.ChangesSince(ctx, mb.ID, 14)
	if err != nil || !slices.Equal(ch.Vanished.UIDs(), []store.UID{1, 2, 3, 4, 5, 6}) {
		// Tombstones merge into one run at the later modseq (expunge.go).
		t.Fatalf("changes since 14: %+v, %v", ch, err)
	}
	AssertClean(t, s, "alice")
}

// testTombstoneNamesEvery: a tombstone's record (Expunged.EmailIDs) names
// every message known expunged under its UID: the one held here and the
// one a peer's expunge of the same UID names (a UID clash), whether the
// UID goes with that expunge or was tombstoned already.
func testTombstoneNamesEvery(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	mb := MustMailbox(t, a, "INBOX")
	if _, err := r.Apply(ctx, mb.ID, store.Batch{Append: []store.ReplicaMessage{
		replicaMessage(1, 5, MessageText(1, ""), store.Flags{}),
		replicaMessage(2, 6, MessageText(2, ""), store.Flags{}),
	}, KeepHistory: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(ctx, mb.ID, store.Batch{Expunges: []store.Expunged{
		{UIDs: store.UIDSetOf(1), ModSeq: 10, EmailIDs: map[store.UID]string{1: "Mpeer"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Expunge(ctx, mb.ID, store.UIDSetOf(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(ctx, mb.ID, store.Batch{Expunges: []store.Expunged{
		{UIDs: store.UIDSetOf(2), ModSeq: 20, EmailIDs: map[store.UID]string{2: "Mother Mthird"}}}}); err != nil {
		t.Fatal(err)
	}
	ts, err := r.Tombstones(ctx, mb.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[store.UID][]string{}
	for _, x := range ts {
		for u, e := range x.EmailIDs {
			ids[u] = append(ids[u], strings.Fields(e)...)
		}
	}
	for u, want := range map[store.UID][]string{1: {"Memailb", "Mpeer"}, 2: {"Memailc", "Mother", "Mthird"}} {
		got := slices.Sorted(slices.Values(ids[u]))
		if !slices.Equal(got, want) {
			t.Fatalf("UID %d's tombstone names %v, want %v (%+v)", u, got, want, ts)
		}
	}
	AssertClean(t, s, "alice")
}

// testReadRound: a round's read holds the changes since a point, the
// tombstones above it with their modseqs, and the messages (identity and
// state) of the UIDs changed, expunged or asked for that exist.
func testReadRound(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	inbox := MustMailbox(t, a, "INBOX")
	AppendN(t, a, inbox.ID, 6, store.Flags{})
	since := MustMailbox(t, a, "INBOX").HighestModSeq
	if _, err := r.Apply(ctx, inbox.ID, store.Batch{KeepHistory: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetFlags(ctx, inbox.ID, store.UIDSetOf(4), store.FlagsAdd, store.Flags{System: store.FlagSeen, Keywords: []string{"k"}}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSetOf(2)); err != nil {
		t.Fatal(err)
	}
	mb := MustMailbox(t, a, "INBOX")
	rd, err := r.ReadRound(ctx, inbox.ID, since, store.UIDSetOf(1, 2, 9))
	if err != nil {
		t.Fatal(err)
	}
	if rd.Mailbox.HighestModSeq != mb.HighestModSeq || rd.Mailbox.UIDNext != 7 || !rd.Exact {
		t.Fatalf("mailbox %+v exact %v, want HIGHESTMODSEQ %d UIDNEXT 7", rd.Mailbox, rd.Exact, mb.HighestModSeq)
	}
	if len(rd.Changed) != 1 || rd.Changed[0].UID != 4 || !slices.Equal(rd.Vanished.UIDs(), []store.UID{2}) {
		t.Fatalf("changes %+v vanished %v", rd.Changed, rd.Vanished)
	}
	if len(rd.Tombstones) != 1 || rd.Tombstones[0].ModSeq != mb.HighestModSeq || !rd.Tombstones[0].UIDs.Contains(2) || rd.Tombstones[0].EmailIDs[2] == "" {
		t.Fatalf("tombstones %+v", rd.Tombstones)
	}
	var uids []store.UID
	for _, m := range rd.Messages {
		uids = append(uids, m.UID)
	}
	if !slices.Equal(uids, []store.UID{1, 4}) {
		t.Fatalf("messages %v, want 1 and 4", uids)
	}
	want := make(map[store.UID]*store.MessageData)
	err = a.Messages(ctx, inbox.ID, store.UIDSetOf(1, 4), func(m *store.MessageData) error {
		want[m.UID] = m
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rd.Messages {
		w := want[m.UID]
		if m.ModSeq != w.ModSeq || !sameFlags(m.Flags, w.Flags) || m.BlobID != w.BlobID || m.EmailID != w.EmailID ||
			m.ThreadID != w.ThreadID || m.Size != w.Size || !m.InternalDate.Equal(w.InternalDate) || !m.SaveDate.Equal(w.SaveDate) {
			t.Errorf("message %d: %+v, want %+v", m.UID, m.MessageState, w.MessageState)
		}
	}
	// Nothing since now: no changes, no tombstones, and still the asked-for
	// messages.
	rd, err = r.ReadRound(ctx, inbox.ID, mb.HighestModSeq, store.UIDSetOf(3))
	if err != nil || len(rd.Changed) != 0 || len(rd.Tombstones) != 0 || len(rd.Messages) != 1 || rd.Messages[0].UID != 3 {
		t.Fatalf("round at HIGHESTMODSEQ: %+v, %v", rd, err)
	}
}

func sameFlags(a, b store.Flags) bool {
	return a.System == b.System && slices.Equal(a.Keywords, b.Keywords)
}

// testReadRoundSnapshot: while a client changes flags and expunges, every
// round read is one snapshot: no message or tombstone above the
// HIGHESTMODSEQ it reports, every changed message with the state its
// change shows, and no UID both held and tombstoned. Separate reads of
// the changes, tombstones and messages break these as soon as a write
// falls between them.
func testReadRoundSnapshot(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	inbox := MustMailbox(t, a, "INBOX")
	const n = 200
	AppendN(t, a, inbox.ID, n, store.Flags{})
	since := MustMailbox(t, a, "INBOX").HighestModSeq
	done := make(chan error, 1)
	go func() {
		for u := store.UID(1); u <= n; u++ {
			var err error
			if u%3 == 0 {
				_, err = a.Expunge(ctx, inbox.ID, store.UIDSetOf(u))
			} else {
				_, err = a.SetFlags(ctx, inbox.ID, store.UIDSetOf(u, u+1), store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0)
			}
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	all := store.UIDSet{{Start: 1, Stop: n}}
	for rounds := 0; ; rounds++ {
		rd, err := r.ReadRound(ctx, inbox.ID, since, all)
		if err != nil {
			t.Fatal(err)
		}
		hms := rd.Mailbox.HighestModSeq
		held := make(map[store.UID]store.MessageState)
		for _, m := range rd.Messages {
			if m.ModSeq > hms {
				t.Fatalf("round %d: message %d at modseq %d above HIGHESTMODSEQ %d", rounds, m.UID, m.ModSeq, hms)
			}
			held[m.UID] = m.MessageState
		}
		for _, c := range rd.Changed {
			if h, ok := held[c.UID]; !ok || h.ModSeq != c.ModSeq || !sameFlags(h.Flags, c.Flags) {
				t.Fatalf("round %d: change %+v, message %+v (held %v)", rounds, c, h, ok)
			}
		}
		for _, ts := range rd.Tombstones {
			if ts.ModSeq > hms {
				t.Fatalf("round %d: tombstone at %d above HIGHESTMODSEQ %d", rounds, ts.ModSeq, hms)
			}
			for u := range held {
				if ts.UIDs.Contains(u) {
					t.Fatalf("round %d: UID %d held and tombstoned", rounds, u)
				}
			}
		}
		if got := len(held) + int(rd.Vanished.Len()); got != n {
			t.Fatalf("round %d: %d held + %d vanished, want %d", rounds, len(held), rd.Vanished.Len(), n)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		default:
		}
	}
}

// testApplyMetadata: a peer's metadata entries are applied at the peer's
// modseq (so a replica that only receives has its source's HIGHESTMODSEQ
// after a SETMETADATA), deletes keep their row, an entry already so
// allocates nothing, one changed here after UnchangedSince is left
// alone, and ReadRound returns what changed; server entries take
// max(counter+1, the peer's modseq).
func testApplyMetadata(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	md := openMetadata(t, s, "alice")
	inbox := MustMailbox(t, a, "INBOX")
	AppendN(t, a, inbox.ID, 2, store.Flags{})
	hms := MustMailbox(t, a, "INBOX").HighestModSeq
	entry := func(name, value string, ms store.ModSeq) store.MetadataEntry {
		e := store.MetadataEntry{Name: name, ModSeq: ms}
		if value != "-" {
			e.Value = []byte(value)
		}
		return e
	}
	res, err := r.Apply(ctx, inbox.ID, store.Batch{Metadata: []store.MetadataEntry{
		entry("/private/comment", "hello", hms+5), entry("/shared/comment", "", hms+7)}})
	if err != nil || res.After != hms+7 {
		t.Fatalf("apply: %+v, %v (want HIGHESTMODSEQ %d)", res, err, hms+7)
	}
	got, err := md.GetMetadata(ctx, inbox.ID, []string{"/private/comment", "/shared/comment"}, 0)
	if err != nil || len(got) != 2 || string(got[0].Value) != "hello" || got[0].ModSeq != hms+5 ||
		got[1].Value == nil || len(got[1].Value) != 0 || got[1].ModSeq != hms+7 {
		t.Fatalf("entries: %+v, %v", got, err)
	}
	// The same again: nothing.
	if res, err := r.Apply(ctx, inbox.ID, store.Batch{Metadata: []store.MetadataEntry{entry("/private/comment", "hello", hms+9)}}); err != nil || res.ModSeq != 0 {
		t.Fatalf("again: %+v, %v", res, err)
	}
	// A delete travels as an entry with no value.
	if _, err := r.Apply(ctx, inbox.ID, store.Batch{Metadata: []store.MetadataEntry{entry("/private/comment", "-", hms+10)}}); err != nil {
		t.Fatal(err)
	}
	rd, err := r.ReadRound(ctx, inbox.ID, hms+7, nil)
	if err != nil || len(rd.Metadata) != 1 || rd.Metadata[0].Name != "/private/comment" || rd.Metadata[0].Value != nil || rd.Metadata[0].ModSeq != hms+10 {
		t.Fatalf("round since %d: %+v, %v", hms+7, rd.Metadata, err)
	}
	// A local change after the caller looked stays.
	local, err := md.SetMetadata(ctx, inbox.ID, []store.MetadataEntry{entry("/shared/comment", "mine", 0)}, store.MetadataLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(ctx, inbox.ID, store.Batch{UnchangedSince: local - 1,
		Metadata: []store.MetadataEntry{entry("/shared/comment", "theirs", local+3)}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := md.GetMetadata(ctx, inbox.ID, []string{"/shared/comment"}, 0); len(got) != 1 || string(got[0].Value) != "mine" {
		t.Fatalf("after a guarded apply: %+v", got)
	}

	// Server entries: their own counter, raised to the peer's.
	if _, err := r.Apply(ctx, store.ServerMetadata, store.Batch{Metadata: []store.MetadataEntry{entry("/private/vendor/x/y", "v", 40)}}); err != nil {
		t.Fatal(err)
	}
	if ms, err := md.ServerMetadataModSeq(ctx); err != nil || ms != 40 {
		t.Fatalf("server counter %d, %v; want 40", ms, err)
	}
	if _, err := r.Apply(ctx, store.ServerMetadata, store.Batch{Metadata: []store.MetadataEntry{entry("/private/vendor/x/y", "w", 3)}}); err != nil {
		t.Fatal(err)
	}
	all, err := md.MetadataChangedSince(ctx, store.ServerMetadata, 0)
	if err != nil || len(all) != 1 || string(all[0].Value) != "w" || all[0].ModSeq != 41 {
		t.Fatalf("server entries: %+v, %v", all, err)
	}
	AssertClean(t, s, "alice")
}

// testPastTombstoneOtherPeer: a peer's tombstone of a UID never held
// here, below UIDNEXT and at a modseq HIGHESTMODSEQ has passed, keeps the
// peer's modseq while that peer is the mailbox's only one (the replicas'
// modseqs stay equal), and takes a fresh modseq once another peer has
// synced the mailbox (it may have read past the peer's modseq already).
func testPastTombstoneOtherPeer(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	mb := MustMailbox(t, a, "INBOX")
	state := &store.PeerState{Applied: 1}
	_, err := r.Apply(ctx, mb.ID, store.Batch{Append: []store.ReplicaMessage{
		replicaMessage(1, 5, MessageText(1, ""), store.Flags{}),
		replicaMessage(2, 6, MessageText(2, ""), store.Flags{}),
		replicaMessage(4, 8, MessageText(4, ""), store.Flags{}),
	}, UIDNext: 5, Peer: "p", Sync: state})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Apply(ctx, mb.ID, store.Batch{Peer: "p", Sync: state, Expunges: []store.Expunged{{UIDs: store.UIDSetOf(3), ModSeq: 7}}})
	if err != nil || res.After != 8 {
		t.Fatalf("one peer: %+v, %v", res, err)
	}
	if err := r.SetPeerState(ctx, "q", mb.GUID, store.PeerState{Applied: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(ctx, mb.ID, store.Batch{Peer: "p", Sync: state, UIDNext: 7,
		Append: []store.ReplicaMessage{replicaMessage(6, 9, MessageText(6, ""), store.Flags{})}}); err != nil {
		t.Fatal(err)
	}
	res, err = r.Apply(ctx, mb.ID, store.Batch{Peer: "p", Sync: state, Expunges: []store.Expunged{{UIDs: store.UIDSetOf(5), ModSeq: 8}}})
	if err != nil || res.After != 10 {
		t.Fatalf("two peers: %+v, %v", res, err)
	}
	ts, err := r.Tombstones(ctx, mb.ID, 0)
	if err != nil || len(ts) != 2 || ts[0].ModSeq != 7 || !ts[0].UIDs.Contains(3) || ts[1].ModSeq != 10 || !ts[1].UIDs.Contains(5) {
		t.Fatalf("tombstones %+v, %v", ts, err)
	}
	AssertClean(t, s, "alice")
}

// testPruneMailboxTombstones: a deleted mailbox's tombstone goes only at
// or below the bound given and once every peer confirmed the account
// counter of its delete; one whose mailbox was created again under its
// GUID stays.
func testPruneMailboxTombstones(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	if _, err := a.CreateMailbox(ctx, "x", store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteMailbox(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	ops := []store.AccountOp{
		{Kind: store.OpDelete, GUID: "Mpeer9", Name: "again", Stamp: 1, Seen: []string{"Mmsg1"}},
		{Kind: store.OpCreate, GUID: "Mpeer9", Name: "again", UIDValidity: 9, Stamp: 2},
	}
	if _, err := r.ApplyAccount(ctx, ops, "", nil); err != nil {
		t.Fatal(err)
	}
	st, err := r.AccountState(ctx)
	if err != nil || len(st.Deleted) != 2 {
		t.Fatalf("tombstones %+v, %v", st.Deleted, err)
	}
	var x store.MailboxTombstone
	for _, d := range st.Deleted {
		if d.Name == "x" {
			x = d
		}
	}
	left := func(want int) {
		t.Helper()
		st, err := r.AccountState(ctx)
		if err != nil || len(st.Deleted) != want {
			t.Fatalf("tombstones %+v, %v; want %d", st.Deleted, err, want)
		}
	}
	prune := func(before uint64, want int) {
		t.Helper()
		if n, err := r.PruneMailboxTombstones(ctx, before); err != nil || n != want {
			t.Fatalf("prune at %d: %d, %v; want %d", before, n, err, want)
		}
	}
	// A peer that has not confirmed the delete holds it back.
	if err := r.SetPeerState(ctx, "peer", "", store.PeerState{Confirmed: store.ModSeq(x.Changed - 1)}); err != nil {
		t.Fatal(err)
	}
	prune(st.Counter, 0)
	left(2)
	if err := r.SetPeerState(ctx, "peer", "", store.PeerState{Confirmed: store.ModSeq(st.Counter)}); err != nil {
		t.Fatal(err)
	}
	// Not above the bound.
	prune(x.Changed-1, 0)
	prune(st.Counter, 1)
	left(1) // the mailbox held again keeps its tombstone
	if _, err := r.MailboxByGUID(ctx, "Mpeer9"); err != nil {
		t.Fatal(err)
	}
	// Deleted for good, it goes too, and a forgotten peer holds nothing
	// back.
	if err := a.DeleteMailbox(ctx, "again"); err != nil {
		t.Fatal(err)
	}
	if err := r.ForgetPeer(ctx, "peer"); err != nil {
		t.Fatal(err)
	}
	prune(st.Counter+10, 1)
	left(0)
}
