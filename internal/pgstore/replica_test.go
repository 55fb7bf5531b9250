package pgstore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestReplicaContentIsPerUser: bodies are shared by every user of the
// database, but a Replica sees only its own user's: knowing the hash of
// another user's message neither reveals that the store holds it nor lets
// a batch append it without its bytes.
func TestReplicaContentIsPerUser(t *testing.T) {
	s := openTest(t, pgtest.DSN(t), Options{NoListen: true})
	if _, err := s.OpenReplica(ctx, "nobody"); !errors.Is(err, store.ErrNoUser) {
		t.Fatalf("missing user: %v", err)
	}
	for _, u := range []string{"alice", "bob"} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	body := "Subject: secret\r\n\r\nfor alice only\r\n"
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	alice, err := s.Open(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	inbox, err := alice.Mailbox(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader(body)}}); err != nil {
		t.Fatal(err)
	}
	bob, err := s.OpenReplica(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if has, err := bob.HasContent(ctx, []string{hash}); err != nil || has[hash] {
		t.Fatalf("bob's HasContent of alice's body: %v, %v", has, err)
	}
	box, err := bob.CreateMailbox(ctx, "x", 42, store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bob.Apply(ctx, box.ID, store.Batch{Append: []store.ReplicaMessage{{ContentHash: hash}}})
	if !errors.Is(err, store.ErrContentMismatch) {
		t.Fatalf("bob appending alice's body by hash: %v", err)
	}
	// With the bytes, bob gets his own copy (the body row is shared).
	if _, err := bob.Apply(ctx, box.ID, store.Batch{Append: []store.ReplicaMessage{{Body: strings.NewReader(body), ContentHash: hash}}}); err != nil {
		t.Fatal(err)
	}
	if has, err := bob.HasContent(ctx, []string{hash}); err != nil || !has[hash] {
		t.Fatalf("bob's own copy: %v, %v", has, err)
	}
}
