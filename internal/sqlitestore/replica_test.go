package sqlitestore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
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

// A chosen UIDVALIDITY is accepted only when the store can prove the
// name never had it: not after a delete, not for a rename's new name.

// A database from before schema version 5 knows no history: values
// below the counter at upgrade time are refused, later ones accepted.
func TestReplicaUpgradeFromV4(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	a := aliceAccount(t, s)
	old, err := a.CreateMailbox(ctx, "old", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	s.Close()
	downgradeAlice(t, dir, append(undoV6, `DROP TABLE sync_state`, `DROP TABLE uidvalidity_history`,
		`DELETE FROM meta WHERE key = 'uidvalidity_history_from'`, `PRAGMA user_version = 4`)...)

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

// Sync state: per peer, deleted by nil, alone with mailbox 0.

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

// HasContent answers a list in one statement: exactly the hashes some
// stored message names, whatever else the list holds.
func TestReplicaHasContent(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	a := aliceAccount(t, s)
	inbox, err := a.Mailbox(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	for i := range 3 {
		body := fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i)
		if _, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader(body)}}); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(body))
		stored = append(stored, hex.EncodeToString(sum[:]))
	}
	r := newReplica(t, s)
	if has, err := r.HasContent(ctx, nil); err != nil || len(has) != 0 {
		t.Fatalf("empty list: %v, %v", has, err)
	}
	missing := strings.Repeat("ab", 32)
	has, err := r.HasContent(ctx, []string{missing, stored[2], stored[0], stored[0], "not a hash"})
	if err != nil {
		t.Fatal(err)
	}
	if len(has) != 2 || !has[stored[0]] || !has[stored[2]] {
		t.Fatalf("HasContent = %v, want exactly %s and %s", has, stored[0], stored[2])
	}
}
