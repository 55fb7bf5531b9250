package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/sqlitestore/sqlitetest"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// check --repair expunges messages whose blob is corrupt or missing, with
// tombstones at a new, higher modseq, without touching UIDNEXT or the
// intact message; the store then checks clean.
func TestCheckRepair(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// Bodies in blob files, so the test can damage them.
	s, a, inbox := openAliceInbox(t, dir, sqlitestore.Options{InlineBodyMax: -1})
	appendNumbered(t, a, inbox.ID, 3)
	blobOf := map[store.UID]string{}
	var all store.UIDSet
	all.AddRange(1, store.MaxUID)
	a.Messages(ctx, inbox.ID, all, func(m *store.MessageData) error { blobOf[m.UID] = m.BlobID; return nil })
	before, _ := a.Mailbox(ctx, "INBOX")
	a.Close()
	s.Close()

	blobPath := func(id string) string {
		matches, _ := filepath.Glob(filepath.Join(dir, "users", "alice", "blobs", "*", id))
		if len(matches) != 1 {
			t.Fatalf("blob %s: %v", id, matches)
		}
		return matches[0]
	}
	corrupt := blobPath(blobOf[1])
	os.Chmod(corrupt, 0o600)
	if err := os.WriteFile(corrupt, []byte("Subject: 0\r\n\r\nbody X\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(blobPath(blobOf[3])); err != nil {
		t.Fatal(err)
	}

	checkRepairs(t, dir)

	a = reopenAlice(t, dir)
	after, _ := a.Mailbox(ctx, "INBOX")
	if after.HighestModSeq <= before.HighestModSeq || after.UIDNext != before.UIDNext || after.UIDValidity != before.UIDValidity {
		t.Fatalf("before %+v after %+v", before, after)
	}
	ch, err := a.ChangesSince(ctx, inbox.ID, before.HighestModSeq)
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Exact || ch.Vanished.String() != "1,3" || len(ch.Changed) != 0 {
		t.Fatalf("changes since repair: vanished %v exact %v changed %v", ch.Vanished, ch.Exact, ch.Changed)
	}
	st, _ := a.Status(ctx, inbox.ID)
	if st.Messages != 1 {
		t.Fatalf("messages left: %d", st.Messages)
	}
}

// check --repair also finds bodies stored inside the database that were
// damaged or lost, reading them through the store like files.
func TestCheckRepairInline(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, a, inbox := openAliceInbox(t, dir, sqlitestore.Options{})
	appendNumbered(t, a, inbox.ID, 3)
	blobOf := map[store.UID]string{}
	a.Messages(ctx, inbox.ID, store.UIDSetOf(1, 2, 3), func(m *store.MessageData) error { blobOf[m.UID] = m.BlobID; return nil })
	a.Close()
	s.Close()
	if files, _ := filepath.Glob(filepath.Join(dir, "users", "alice", "blobs", "??", "*")); len(files) != 0 {
		t.Fatalf("small bodies written to files: %v", files)
	}

	damageAliceDB(t, dir, `UPDATE bodies SET data = ? WHERE id = ?`, []byte("Subject: 0\r\n\r\nbody X\r\n"), blobOf[1])
	damageAliceDB(t, dir, `DELETE FROM bodies WHERE id = ?`, blobOf[3])

	checkRepairs(t, dir)
	a = reopenAlice(t, dir)
	st, _ := a.Status(ctx, inbox.ID)
	if st.Messages != 1 {
		t.Fatalf("messages left: %d", st.Messages)
	}
}

// check --repair beside a live server: a message the server expunges
// (and whose body it reclaims) after the check listed it is gone, not
// broken; repair reports and expunges nothing, for bodies inline and in
// files.
func TestCheckRepairBesideServer(t *testing.T) {
	for name, inline := range map[string]int64{"inline": 0, "file": -1} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := sqlitetest.NewBeside(t, inline)
			acct := b.Racing(t)
			done, err := repairUser(ctx, acct)
			if err != nil || len(done) != 0 {
				t.Fatalf("repair = %q, %v; want nothing to repair", done, err)
			}
			if !b.Raced {
				t.Fatal("no body was read")
			}
			st, _ := b.ServerAccount.Status(ctx, b.Inbox.ID)
			if st.Messages != 2 {
				t.Fatalf("%d messages left, want 2", st.Messages)
			}
			if ps, err := b.Tool.Check(ctx, "alice"); err != nil || len(ps) != 0 {
				t.Fatalf("Check = %v, %v", ps, err)
			}
		})
	}
}
