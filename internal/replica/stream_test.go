package replica

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// bigMessage is a message of about size bytes, distinct per seed.
func bigMessage(seed, size int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: a@example.org\r\nSubject: large %d\r\nMessage-ID: <large%d@example.org>\r\n\r\n", seed, seed)
	for i := 0; b.Len() < size; i++ {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%d/%d", seed, i)))
		fmt.Fprintf(&b, "%x%x\r\n", sum, sum[:8])
	}
	return b.String()
}

// readBody returns the bytes of the message at uid in mailbox of user on
// n.
func (n *node) readBody(user, mailbox string, uid store.UID) []byte {
	n.t.Helper()
	a := n.acct(user)
	m := n.mailbox(user, mailbox)
	var blobID string
	if err := a.Messages(ctx, m.ID, store.UIDSetOf(uid), func(md *store.MessageData) error {
		blobID = md.BlobID
		return nil
	}); err != nil || blobID == "" {
		n.t.Fatalf("%s: message %d: %q, %v", n.name, uid, blobID, err)
	}
	b, err := a.OpenBlob(ctx, blobID)
	if err != nil {
		n.t.Fatal(err)
	}
	defer b.Close()
	data, err := io.ReadAll(b)
	if err != nil {
		n.t.Fatal(err)
	}
	return data
}

// TestLargeBodyStreamed: messages larger than a chunk (several MiB)
// travel in chunks, staged on the receiver, in both directions over the
// TLS transport (A's to B behind the listener, B's fetched from it), and
// arrive byte-identical; a small one in the same sync still travels
// whole, and a resync sends nothing.
func TestLargeBodyStreamed(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	addr := serve(t, b, "0123456789abcdef")
	cl := dial(t, a, addr, "0123456789abcdef")
	a.acct("u")
	if _, err := Sync(ctx, a.side, cl, Options{}); err != nil {
		t.Fatal(err)
	}
	bigA, bigB := bigMessage(1, 5*chunkSize+12345), bigMessage(2, 3*chunkSize)
	uA := a.append("u", "INBOX", bigA, store.Flags{})
	small := a.append("u", "INBOX", msg(1), store.Flags{})
	st, err := Sync(ctx, a.side, cl, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Bodies != 2 || st.StreamedBodies != 1 {
		t.Fatalf("A to B: %d bodies, %d streamed; want 2, 1", st.Bodies, st.StreamedBodies)
	}
	if got := b.readBody("u", "INBOX", uA); !bytes.Equal(got, []byte(bigA)) {
		t.Fatalf("B holds %d bytes for A's %d-byte message", len(got), len(bigA))
	}
	if got := b.readBody("u", "INBOX", small); !bytes.Equal(got, []byte(msg(1))) {
		t.Fatalf("small message on B: %q", got)
	}
	uB := b.append("u", "INBOX", bigB, store.Flags{})
	if st, err = Sync(ctx, a.side, cl, Options{}); err != nil {
		t.Fatal(err)
	}
	if st.StreamedBodies != 1 {
		t.Fatalf("B to A: %d bodies streamed", st.StreamedBodies)
	}
	if got := a.readBody("u", "INBOX", uB); !bytes.Equal(got, []byte(bigB)) {
		t.Fatalf("A holds %d bytes for B's %d-byte message", len(got), len(bigB))
	}
	if st, err = Sync(ctx, a.side, cl, Options{}); err != nil || st.Bodies != 0 {
		t.Fatalf("resync: %+v, %v", st, err)
	}
	assertSame(t, "u", true, a, b)
}

// TestStagedBodyChecked: a staged body whose bytes are not those of its
// content hash (a faulty or hostile peer) fails the Apply and stores
// nothing.
func TestStagedBodyChecked(t *testing.T) {
	b := newNode(t, "b")
	b.acct("u")
	u, err := b.side.Open(ctx, "u", false)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	in := b.mailbox("u", "INBOX")
	real, fake := bigMessage(3, 2*chunkSize), bigMessage(4, 2*chunkSize)
	sum := sha256.Sum256([]byte(real))
	hash := fmt.Sprintf("%x", sum)
	for off := 0; off < len(fake); off += chunkSize {
		if err := u.StageBody(ctx, "x", int64(off), []byte(fake[off:min(off+chunkSize, len(fake))])); err != nil {
			t.Fatal(err)
		}
	}
	_, err = u.Apply(ctx, in.GUID, Batch{Appends: []Append{{Message: Message{UID: 1, BlobID: hash, Size: int64(len(real))}, Staged: "x"}}})
	if err == nil {
		t.Fatal("a body not matching its hash was applied")
	}
	if st, _ := b.acct("u").Status(ctx, in.ID); st.Messages != 0 {
		t.Fatalf("%d messages after the refused apply", st.Messages)
	}
	// A chunk out of order is refused too.
	if err := u.StageBody(ctx, "y", chunkSize, []byte("late")); err == nil {
		t.Fatal("a chunk of a body never started was staged")
	}
}
