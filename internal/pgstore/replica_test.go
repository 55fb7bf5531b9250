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
	alice, inbox := openInbox(t, s, "alice")
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

// TestReplicaUpgradeFromV4: a database from before schema version 5 has
// no UIDVALIDITY history; after the upgrade, values below each user's
// counter at that moment are refused (a mailbox deleted before may have
// had them), later ones accepted, and mailboxes that exist keep theirs.
func TestReplicaUpgradeFromV4(t *testing.T) {
	dsn, conn := databaseAt(t, 4)
	var uid int64
	if err := conn.QueryRow(ctx, `INSERT INTO users (name, uidvalidity_next) VALUES ('alice', 5000) RETURNING id`).Scan(&uid); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO mailboxes (user_id, name, uidvalidity, uidnext, highestmodseq, guid)
		VALUES ($1, 'INBOX', 4000, 1, 1, 'Minbox'), ($1, 'old', 4999, 1, 1, 'Mold')`, uid); err != nil {
		t.Fatal(err)
	}

	s := openTest(t, dsn, Options{NoListen: true})
	r, err := s.OpenReplica(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, c := range []struct {
		name string
		uidv uint32
	}{{"gone", 4500}, {"old2", 4999}, {"old", 4998}} {
		if _, err := r.CreateMailbox(ctx, c.name, c.uidv, store.CreateOptions{}); !errors.Is(err, store.ErrUIDValidityUsed) {
			t.Errorf("CreateMailbox(%s, %d) after the upgrade: %v", c.name, c.uidv, err)
		}
	}
	if m, err := r.CreateMailbox(ctx, "INBOX", 4000, store.CreateOptions{}); err != nil || m.GUID != "Minbox" {
		t.Fatalf("INBOX with its own UIDVALIDITY: %+v, %v", m, err)
	}
	if m, err := r.CreateMailbox(ctx, "new", 6000, store.CreateOptions{}); err != nil || m.UIDValidity != 6000 {
		t.Fatalf("a value above the counter: %+v, %v", m, err)
	}
	st, err := r.AccountState(ctx)
	if err != nil || len(st.Mailboxes) != 3 || st.Counter == 0 {
		t.Fatalf("account state after the upgrade: %+v, %v", st, err)
	}
	var v int
	if err := conn.QueryRow(ctx, `SELECT max(version) FROM tidemark_schema`).Scan(&v); err != nil || v != SchemaVersion {
		t.Fatalf("schema version %d, %v", v, err)
	}
}
