package sqlitestore

import (
	"bytes"
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// undoV11 turns a current database back into schema version 10.
var undoV11 = append(slices.Clone(undoV13),
	`DROP TRIGGER access_keys_mailbox_deleted`,
	`DROP TABLE access_keys`,
)

// TestMigrateV10 converts a version 10 database: the access key table
// appears and works, keys survive reopening the store, and mail and
// metadata stay.
func TestMigrateV10(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	a := aliceAccount(t, s)
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 3, store.Flags{})
	md, err := s.OpenMetadata(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := md.SetMetadata(ctx, inbox.ID, []store.MetadataEntry{{Name: "/private/comment", Value: []byte("kept")}}, store.MetadataLimits{}); err != nil {
		t.Fatal(err)
	}
	md.Close()
	a.Close()
	s.Close()
	downgradeAlice(t, dir, append(undoV11, `PRAGMA user_version = 10`)...)

	s = openStore(t, dir, Options{})
	ks, err := s.OpenAccessKeys(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	key, err := ks.AccessKey(ctx, inbox.ID, true)
	if err != nil || len(key) != store.AccessKeySize {
		t.Fatalf("key after conversion: %x, %v", key, err)
	}
	ks.Close()
	s.Close()

	s = openStore(t, dir, Options{})
	defer s.Close()
	ks, err = s.OpenAccessKeys(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	if again, err := ks.AccessKey(ctx, inbox.ID, false); err != nil || !bytes.Equal(again, key) {
		t.Fatalf("key after reopening: %x, %v (want %x)", again, err, key)
	}
	a2, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	if st, _ := a2.Status(ctx, inbox.ID); st.Messages != 3 {
		t.Fatalf("%d messages after conversion", st.Messages)
	}
	md, err = s.OpenMetadata(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	if es, err := md.GetMetadata(ctx, inbox.ID, []string{"/private/comment"}, 0); err != nil || len(es) != 1 {
		t.Fatalf("metadata after conversion: %+v, %v", es, err)
	}
	assertClean(t, s, "alice")
}
