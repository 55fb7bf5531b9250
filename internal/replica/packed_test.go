package replica

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/bodypack"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// packedMsg is a message long enough to be stored compressed.
func packedMsg(i int) string {
	return fmt.Sprintf("From: a@example.org\r\nSubject: message %d\r\nMessage-ID: <p%d@example.org>\r\n\r\n%s", i, i,
		strings.Repeat(fmt.Sprintf("line of message %d that compresses well\r\n", i), 20))
}

// storedBodies returns what n's store keeps of each body of the user's
// INBOX, in its packed form, by content hash.
func storedBodies(t *testing.T, n *node, user string) map[string][]byte {
	t.Helper()
	var hashes []string
	n.acct(user).Messages(ctx, n.mailbox(user, "INBOX").ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}}, func(d *store.MessageData) error {
		hashes = append(hashes, d.BlobID)
		return nil
	})
	packed, err := n.repl(user).(store.PackedBodyReader).PackedBodies(ctx, hashes)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte)
	for i, h := range hashes {
		out[h] = packed[i]
	}
	return out
}

// TestSyncSendsPackedBodies: over the TLS transport, in both directions,
// bodies cross as their sender's store keeps them (compressed with the
// body dictionary) and the receiver keeps those very bytes, without
// compressing again: both stores then hold identical packed bodies. A
// short body (stored as it is) crosses as it is. With a peer whose Hello
// did not offer packed bodies (an earlier version), bodies cross as they
// are, and the replicas end the same.
func TestSyncSendsPackedBodies(t *testing.T) {
	for _, old := range []bool{false, true} {
		t.Run(fmt.Sprintf("old=%v", old), func(t *testing.T) {
			a, b := newNode(t, "a"), newNode(t, "b")
			for i := 1; i <= 10; i++ {
				a.append("alice", "INBOX", packedMsg(i), store.Flags{})
			}
			a.append("alice", "INBOX", msg(11), store.Flags{}) // short: stored as it is
			addr := serve(t, b, "0123456789abcdef")
			c := dial(t, a, addr, "0123456789abcdef")
			if old {
				c.packed = false
			}
			st, err := Sync(ctx, a.side, c, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i := 12; i <= 15; i++ {
				b.append("alice", "INBOX", packedMsg(i), store.Flags{})
			}
			st2, err := Sync(ctx, a.side, c, Options{})
			if err != nil {
				t.Fatal(err)
			}
			st.add(st2)
			want := 14 // all but the short one
			if old {
				want = 0
			}
			if st.Bodies != 15 || st.Compressed != want || st.Derived != 15 {
				t.Fatalf("%d bodies, %d compressed, %d not parsed again: want 15, %d, 15", st.Bodies, st.Compressed, st.Derived, want)
			}
			assertSame(t, "alice", true, a, b)
			pa, pb := storedBodies(t, a, "alice"), storedBodies(t, b, "alice")
			frames := 0
			for h, p := range pa {
				if !bytes.Equal(p, pb[h]) {
					t.Fatalf("body %s stored as %d bytes on A, %d on B", h[:12], len(p), len(pb[h]))
				}
				if bodypack.IsFrame(p) {
					frames++
				}
			}
			if len(pa) != 15 || frames != 14 {
				t.Fatalf("%d bodies, %d compressed: want 15 and 14", len(pa), frames)
			}
		})
	}
}

// TestPackedBodyChecked: a packed body is taken only for the bytes its
// content hash names: a damaged frame, and a sound frame of other bytes,
// are refused with ErrContentMismatch over the TLS transport, and nothing
// is stored.
func TestPackedBodyChecked(t *testing.T) {
	a, b := newNode(t, "a"), newNode(t, "b")
	a.append("alice", "INBOX", packedMsg(1), store.Flags{})
	addr := serve(t, b, "0123456789abcdef")
	c := dial(t, a, addr, "0123456789abcdef")
	if _, err := Sync(ctx, a.side, c, Options{}); err != nil {
		t.Fatal(err)
	}
	guid := a.mailbox("alice", "INBOX").GUID
	u, err := c.Open(ctx, "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	good := bodypack.Pack([]byte(packedMsg(2)))
	damaged := bytes.Clone(good)
	damaged[len(damaged)-6] ^= 0x55
	other := bodypack.Pack([]byte(packedMsg(3)))
	sum := sha256.Sum256([]byte(packedMsg(2)))
	h := hex.EncodeToString(sum[:])
	for name, packed := range map[string][]byte{"damaged": damaged, "other bytes": other} {
		_, err := u.Apply(ctx, guid, Batch{Appends: []Append{{Message: Message{UID: 2, BlobID: h, Size: int64(len(packedMsg(2)))}, Packed: packed}}})
		if !errors.Is(err, store.ErrContentMismatch) && (err == nil || !strings.Contains(err.Error(), store.ErrContentMismatch.Error())) {
			t.Fatalf("%s: %v, want a content mismatch", name, err)
		}
	}
	wantContents(t, b, "alice", "INBOX", "1:1")
	// The sound one is taken.
	if _, err := u.Apply(ctx, guid, Batch{Appends: []Append{{Message: Message{UID: 2, BlobID: h, Size: int64(len(packedMsg(2)))}, Packed: good}}}); err != nil {
		t.Fatal(err)
	}
	wantContents(t, b, "alice", "INBOX", "1:1", "2:2")
	bl, err := b.acct("alice").OpenBlob(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(bl)
	bl.Close()
	if string(got) != packedMsg(2) {
		t.Fatalf("stored %q", got)
	}
}
