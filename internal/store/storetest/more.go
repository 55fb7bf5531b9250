package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func testAppendErrors(t *testing.T, be Backend) {
	s := be.New(t, Options{MaxMessageSize: 100})
	a := mustUser(t, s, "bob")
	inbox := MustMailbox(t, a, "INBOX")
	_, err := a.Append(ctx, inbox.ID, []store.NewMessage{
		{Body: strings.NewReader("small\r\n")},
		{Body: bytes.NewReader(bytes.Repeat([]byte("x"), 101))},
	})
	AssertErr(t, err, store.ErrTooBig)
	// Past any in-memory threshold too.
	_, err = a.Append(ctx, inbox.ID, []store.NewMessage{{Body: bytes.NewReader(bytes.Repeat([]byte("x"), 3<<20))}})
	AssertErr(t, err, store.ErrTooBig)
	_, err = a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader("x"), Flags: store.Flags{Keywords: []string{"bad(kw"}}}})
	AssertErr(t, err, store.ErrInvalidKeyword)
	_, err = a.Append(ctx, 999999, []store.NewMessage{{Body: strings.NewReader("x")}})
	AssertErr(t, err, store.ErrNoMailbox)
	if st, _ := a.Status(ctx, inbox.ID); st.Messages != 0 || st.HighestModSeq != 1 {
		t.Fatalf("failed appends changed the mailbox: %+v", st)
	}
	AssertClean(t, s, "bob")
}

// testCopyMove: COPY and MOVE keep content (EMAILID, keywords, one body
// shared by the copies), leave tombstones, and allocate nothing for a no-op.
func testCopyMove(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	inbox := MustMailbox(t, a, "INBOX")
	dst, err := a.CreateMailbox(ctx, "Archive", store.CreateOptions{SpecialUse: `\Archive`})
	if err != nil {
		t.Fatal(err)
	}
	AppendN(t, a, inbox.ID, 4, store.Flags{Keywords: []string{"k"}})
	cr, err := a.Copy(ctx, inbox.ID, dst.ID, store.UIDSet{{Start: 2, Stop: 3}, {Start: 9, Stop: 9}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cr.SrcUIDs, []store.UID{2, 3}) || !slices.Equal(cr.DstUIDs, []store.UID{1, 2}) || cr.DstModSeq != 2 || cr.SrcModSeq != 0 || cr.UIDValidity != dst.UIDValidity {
		t.Fatalf("copy = %+v", cr)
	}
	mr, err := a.Move(ctx, inbox.ID, dst.ID, store.UIDSet{{Start: 1, Stop: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(mr.DstUIDs, []store.UID{3, 4}) || mr.DstModSeq != 3 || mr.SrcModSeq != 3 {
		t.Fatalf("move = %+v", mr)
	}
	src := map[store.UID]string{}
	srcBlob := map[store.UID]string{}
	a.Messages(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 10}}, func(m *store.MessageData) error {
		src[m.UID], srcBlob[m.UID] = m.EmailID, m.BlobID
		return nil
	})
	var dstIDs, blobs []string
	a.Messages(ctx, dst.ID, store.UIDSet{{Start: 1, Stop: 10}}, func(m *store.MessageData) error {
		dstIDs = append(dstIDs, m.EmailID)
		blobs = append(blobs, m.BlobID)
		if !m.Flags.Has("k") {
			t.Errorf("copy lost keyword")
		}
		return nil
	})
	if len(src) != 2 || len(dstIDs) != 4 || dstIDs[1] != src[3] || blobs[1] != srcBlob[3] {
		t.Fatalf("email ids src %v dst %v", src, dstIDs)
	}
	ch, _ := a.ChangesSince(ctx, inbox.ID, 2)
	if ch.Vanished.String() != "1:2" {
		t.Fatalf("move tombstones %v", ch.Vanished)
	}
	cr, err = a.Copy(ctx, inbox.ID, dst.ID, store.UIDSet{{Start: 1, Stop: 2}})
	if err != nil || cr.DstModSeq != 0 || len(cr.DstUIDs) != 0 {
		t.Fatalf("empty copy = %+v, %v", cr, err)
	}
	_, err = a.Copy(ctx, inbox.ID, 999999, store.UIDSet{{Start: 1, Stop: 2}})
	AssertErr(t, err, store.ErrNoMailbox)
	_, err = a.Move(ctx, inbox.ID, dst.ID, store.UIDSet{{Start: 0, Stop: 2}})
	AssertErr(t, err, store.ErrInvalidUID)
	// Move within the same mailbox renumbers under one modseq.
	mr, err = a.Move(ctx, dst.ID, dst.ID, store.UIDSet{{Start: 1, Stop: 1}})
	if err != nil || mr.DstModSeq != mr.SrcModSeq || mr.DstUIDs[0] != 5 {
		t.Fatalf("self move = %+v, %v", mr, err)
	}
	st, _ := a.Status(ctx, dst.ID)
	if st.Messages != 4 || st.UIDNext != 6 {
		t.Fatalf("archive status %+v", st)
	}
	// Bodies outlive the messages of one mailbox while another still
	// names them.
	a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 100}})
	a.Messages(ctx, dst.ID, store.UIDSet{{Start: 1, Stop: 10}}, func(m *store.MessageData) error {
		bl, err := a.OpenBlob(ctx, m.BlobID)
		if err != nil {
			t.Fatalf("body of UID %d gone: %v", m.UID, err)
		}
		bl.Close()
		return nil
	})
	if err := a.DeleteMailbox(ctx, "Archive"); err != nil {
		t.Fatal(err)
	}
	// The bytes of messages no longer named may stay readable for a while
	// (a backend reclaims them once no reader can need them), so nothing
	// is asserted of them here.
	AssertClean(t, s, "alice")
}

// testLargeBody appends a body of several megabytes and reads it back
// whole, in pieces at offsets (as partial FETCH does), and by seeking.
func testLargeBody(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	inbox := MustMailbox(t, a, "INBOX")
	var buf bytes.Buffer
	buf.WriteString("Subject: big\r\nMessage-ID: <big@x>\r\n\r\n")
	for i := 0; buf.Len() < 5<<20; i++ {
		fmt.Fprintf(&buf, "line %d of a large message, with some text to fill it\r\n", i)
	}
	data := buf.Bytes()
	sum := sha256.Sum256(data)
	// Twice, in two messages: one body stored.
	res, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: bytes.NewReader(data)}, {Body: bytes.NewReader(data)}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	a.Messages(ctx, inbox.ID, store.UIDSetOf(res.UIDs...), func(m *store.MessageData) error {
		ids = append(ids, m.BlobID)
		if m.Size != int64(len(data)) {
			t.Errorf("size %d, want %d", m.Size, len(data))
		}
		return nil
	})
	if len(ids) != 2 || ids[0] != ids[1] || ids[0] != hex.EncodeToString(sum[:]) {
		t.Fatalf("blob ids %v, want both the SHA-256 of the bytes", ids)
	}
	bl, err := a.OpenBlob(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	defer bl.Close()
	if bl.Size() != int64(len(data)) {
		t.Fatalf("blob size %d", bl.Size())
	}
	got, err := io.ReadAll(bl)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(data))
	}
	for _, off := range []int64{0, 1, 262143, 262144, 262145, int64(len(data)) - 10} {
		p := make([]byte, 300000)
		n, err := bl.ReadAt(p, off)
		want := data[off:min(int64(len(data)), off+int64(len(p)))]
		if n != len(want) || !bytes.Equal(p[:n], want) || (n < len(p) && err != io.EOF) {
			t.Fatalf("ReadAt(%d) = %d, %v", off, n, err)
		}
	}
	if _, err := bl.Seek(-5, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	tail, _ := io.ReadAll(bl)
	if !bytes.Equal(tail, data[len(data)-5:]) {
		t.Fatalf("tail %q", tail)
	}
	AssertClean(t, s, "alice")
}

func testUsers(t *testing.T, be Backend) {
	s := be.New(t, Options{})
	for _, bad := range []string{"", "../x", "a/b", ".hidden", "-x", "a b", "é"} {
		if err := s.CreateUser(ctx, bad); !isErr(err, store.ErrCannot) {
			t.Errorf("CreateUser(%q) = %v", bad, err)
		}
		if _, err := s.Open(ctx, bad); !isErr(err, store.ErrNoUser) {
			t.Errorf("Open(%q) = %v", bad, err)
		}
	}
	if err := s.CreateUser(ctx, "Carol@Example.org"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, "carol@example.org"); !isErr(err, store.ErrUserExists) {
		t.Fatalf("duplicate: %v", err)
	}
	s.CreateUser(ctx, "bob")
	if us, _ := s.Users(ctx); !slices.Equal(us, []string{"bob", "carol@example.org"}) {
		t.Fatalf("users %q", us)
	}
	if _, err := s.Open(ctx, "nobody"); !isErr(err, store.ErrNoUser) {
		t.Fatalf("open nobody: %v", err)
	}
	a, err := s.Open(ctx, "CAROL@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if a.User() != "carol@example.org" {
		t.Fatalf("user %q", a.User())
	}
	AppendN(t, a, MustMailbox(t, a, "INBOX").ID, 2, store.Flags{})
	a.Close()
	a.Close()
	if err := s.DeleteUser(ctx, "carol@example.org"); err != nil {
		t.Fatal(err)
	}
	if us, _ := s.Users(ctx); !slices.Equal(us, []string{"bob"}) {
		t.Fatalf("users after delete %q", us)
	}
	if err := s.DeleteUser(ctx, "carol@example.org"); !isErr(err, store.ErrNoUser) {
		t.Fatalf("delete twice: %v", err)
	}
	// A new user of the same name starts empty.
	if err := s.CreateUser(ctx, "carol@example.org"); err != nil {
		t.Fatal(err)
	}
	a = mustOpen(t, s, "carol@example.org")
	if st, _ := a.Status(ctx, MustMailbox(t, a, "INBOX").ID); st.Messages != 0 {
		t.Fatalf("recreated user sees old mail: %+v", st)
	}
}

func mustOpen(t testing.TB, s store.Store, name string) store.Account {
	t.Helper()
	a, err := s.Open(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// testUsersAreIsolated: a user never sees another user's mail, even when
// given the other's mailbox ids and content ids.
func testUsersAreIsolated(t *testing.T, be Backend) {
	s := be.New(t, Options{})
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	ainbox := MustMailbox(t, alice, "INBOX")
	AppendN(t, alice, ainbox.ID, 3, store.Flags{})
	var blob string
	alice.Messages(ctx, ainbox.ID, store.UIDSetOf(1), func(m *store.MessageData) error { blob = m.BlobID; return nil })
	all := store.UIDSet{{Start: 1, Stop: store.MaxUID}}
	// Mailbox ids may be per user (the embedded store) or global (a
	// shared database): alice's id either names nothing for bob or one of
	// bob's own, empty mailboxes.
	if st, err := bob.Status(ctx, ainbox.ID); err == nil && st.Messages != 0 {
		t.Fatal("bob's status shows alice's messages")
	}
	if snap, err := bob.Snapshot(ctx, ainbox.ID); err == nil && len(snap.Messages) != 0 {
		t.Fatal("bob sees alice's messages")
	}
	n := 0
	bob.Messages(ctx, ainbox.ID, all, func(*store.MessageData) error { n++; return nil })
	if n != 0 {
		t.Fatal("bob reads alice's messages")
	}
	if res, err := bob.Expunge(ctx, ainbox.ID, all); err == nil && len(res.UIDs) != 0 {
		t.Fatal("bob expunged alice's messages")
	}
	if _, err := bob.OpenBlob(ctx, blob); err == nil {
		t.Fatal("bob opens alice's message body by its content id")
	}
	// The same bytes delivered to bob are his, and readable by him.
	AppendN(t, bob, MustMailbox(t, bob, "INBOX").ID, 1, store.Flags{})
	if bl, err := bob.OpenBlob(ctx, blob); err != nil {
		t.Fatalf("bob cannot open his own copy: %v", err)
	} else {
		bl.Close()
	}
	if st, _ := alice.Status(ctx, ainbox.ID); st.Messages != 3 {
		t.Fatalf("alice's INBOX changed: %+v", st)
	}
}

// testTwoWritersOneUser: two writers of one user, each with its own store
// over the same data when the backend can reopen it (two processes), set
// flags with UNCHANGEDSINCE at the same time. Every modseq is allocated
// once, every change is either applied or reported as modified, and the
// counters stay exact.
func testTwoWritersOneUser(t *testing.T, be Backend) {
	s1, a1 := be.newAccount(t)
	s2 := s1
	if be.Reopen != nil {
		s2 = be.Reopen(t, s1)
	}
	a2 := mustOpen(t, s2, "alice")
	inbox := MustMailbox(t, a1, "INBOX")
	AppendN(t, a1, inbox.ID, 20, store.Flags{})
	const rounds = 30
	var mu sync.Mutex
	seen := map[store.ModSeq]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w, a := range []store.Account{a1, a2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				uid := store.UID(1 + (i*7+w*3)%20)
				st, err := a.Snapshot(ctx, inbox.ID)
				if err != nil {
					errs <- err
					return
				}
				ms := st.Messages[uid-1].ModSeq
				op := store.FlagsAdd
				if (i+w)%2 == 1 {
					op = store.FlagsRemove
				}
				res, err := a.SetFlags(ctx, inbox.ID, store.UIDSetOf(uid), op, store.Flags{System: store.FlagSeen}, ms)
				if err != nil {
					errs <- err
					return
				}
				if res.ModSeq != 0 {
					mu.Lock()
					seen[res.ModSeq]++
					mu.Unlock()
				}
				if res.ModSeq == 0 && len(res.Unchanged) == 0 && res.Modified.Empty() {
					errs <- fmt.Errorf("UID %d neither changed, unchanged nor modified: %+v", uid, res)
					return
				}
				if _, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader(MessageText(100+i, ""))}}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for m, n := range seen {
		if n != 1 {
			t.Fatalf("modseq %d allocated %d times", m, n)
		}
	}
	snap, err := a2.Snapshot(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := a1.Status(ctx, inbox.ID)
	unseen := 0
	for _, m := range snap.Messages {
		if m.Flags.System&store.FlagSeen == 0 {
			unseen++
		}
	}
	// 1 append of 20, then per round and writer one append and at most
	// one flag change.
	if len(snap.Messages) != 20+2*rounds || int(st.Unseen) != unseen || st.HighestModSeq != store.ModSeq(2+2*rounds+len(seen)) {
		t.Fatalf("after two writers: %d messages, status %+v, %d unseen, %d flag modseqs", len(snap.Messages), st, unseen, len(seen))
	}
	AssertClean(t, s1, "alice")
}

// testRecent: for backends that keep IMAP4rev1 \Recent (store.RecentStore),
// the floor starts at 1, a claim returns the old floor and raises it once,
// takes no modseq, and new messages (append, copy) are unclaimed again.
func testRecent(t *testing.T, be Backend) {
	_, a := be.newAccount(t)
	rs, ok := a.(store.RecentStore)
	if !ok {
		t.Skip("backend keeps no \\Recent state")
	}
	inbox := MustMailbox(t, a, "INBOX")
	count := func(id store.MailboxID, want uint32) {
		t.Helper()
		if n, err := rs.RecentCount(ctx, id); err != nil || n != want {
			t.Fatalf("RecentCount = %d, %v; want %d", n, err, want)
		}
	}
	claim := func(upTo, want store.UID) {
		t.Helper()
		if prev, err := rs.ClaimRecent(ctx, inbox.ID, upTo); err != nil || prev != want {
			t.Fatalf("ClaimRecent(%d) = %d, %v; want %d", upTo, prev, err, want)
		}
	}
	count(inbox.ID, 0)
	AppendN(t, a, inbox.ID, 3, store.Flags{})
	count(inbox.ID, 3)
	before := MustMailbox(t, a, "INBOX").HighestModSeq
	claim(0, 1) // reading changes nothing
	count(inbox.ID, 3)
	claim(4, 1) // UIDs 1-3 are this caller's
	claim(4, 4) // and nobody else's
	claim(2, 4) // a lower claim never lowers the floor
	count(inbox.ID, 0)
	if hm := MustMailbox(t, a, "INBOX").HighestModSeq; hm != before {
		t.Fatalf("claim moved HIGHESTMODSEQ %d -> %d", before, hm)
	}
	AppendN(t, a, inbox.ID, 2, store.Flags{})
	other, err := a.CreateMailbox(ctx, "Other", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Copy(ctx, inbox.ID, other.ID, store.UIDSetOf(1, 2)); err != nil {
		t.Fatal(err)
	}
	count(inbox.ID, 2)
	count(other.ID, 2)
	if _, err := rs.ClaimRecent(ctx, 999999, 5); !isErr(err, store.ErrNoMailbox) {
		t.Fatalf("missing mailbox: %v", err)
	}
}

// testExpungedWhileReading: inside Messages' fn, the bytes of the message
// it was handed stay readable even when another session expunges the
// message meanwhile (the Messages contract).
func testExpungedWhileReading(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	other := mustOpen(t, s, "alice")
	inbox := MustMailbox(t, a, "INBOX")
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 20000) // past any inline limit
	for _, body := range []string{MessageText(1, ""), big} {
		res, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader(body)}})
		if err != nil {
			t.Fatal(err)
		}
		uid := res.UIDs[0]
		err = a.Messages(ctx, inbox.ID, store.UIDSetOf(uid), func(m *store.MessageData) error {
			if r, err := other.Expunge(ctx, inbox.ID, store.UIDSetOf(uid)); err != nil || len(r.UIDs) != 1 {
				return fmt.Errorf("expunge: %+v, %v", r, err)
			}
			bl, err := a.OpenBlob(ctx, m.BlobID)
			if err != nil {
				return fmt.Errorf("open after the expunge: %w", err)
			}
			defer bl.Close()
			got, err := io.ReadAll(bl)
			if err != nil || string(got) != body {
				return fmt.Errorf("read %d of %d bytes: %v", len(got), len(body), err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%d-byte message: %v", len(body), err)
		}
	}
	AssertClean(t, s, "alice")
}
