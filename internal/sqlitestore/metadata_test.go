package sqlitestore

import (
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// undoV8 turns a current database back into schema version 7.
var undoV8 = append(slices.Clone(undoV9),
	`DROP TRIGGER metadata_mailbox_deleted`,
	`DROP TABLE metadata`,
)

// TestMigrateV7 converts a version 7 database: the metadata table appears
// and works, mail stays, and a deleted mailbox's entries go with it.
func TestMigrateV7(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	a := aliceAccount(t, s)
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 2, store.Flags{})
	a.Close()
	s.Close()
	downgradeAlice(t, dir, append(undoV8, `PRAGMA user_version = 7`)...)

	s = openStore(t, dir, Options{})
	md, err := s.OpenMetadata(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	if _, err := md.SetMetadata(ctx, inbox.ID, []store.MetadataEntry{{Name: "/private/comment", Value: []byte("kept")}}, store.MetadataLimits{}); err != nil {
		t.Fatal(err)
	}
	es, err := md.GetMetadata(ctx, inbox.ID, []string{"/private/comment"}, 0)
	if err != nil || len(es) != 1 || string(es[0].Value) != "kept" {
		t.Fatalf("%+v, %v", es, err)
	}
	a2, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	if st, _ := a2.Status(ctx, inbox.ID); st.Messages != 2 {
		t.Fatalf("%d messages after conversion", st.Messages)
	}
	var v int
	db2, _ := sql.Open("sqlite", dsn(filepath.Join(dir, "users", "alice", "meta.db"), false))
	defer db2.Close()
	if err := db2.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("user_version %d, %v", v, err)
	}
}
