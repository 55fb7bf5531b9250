package migrate

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/mailimport"
)

// Moving a server by copying its files: Dovecot's own Maildir, imported
// with its dovecot-uidlist files, gives the same mailboxes, messages,
// flags, dates, UIDVALIDITYs and UIDs as IMAP shows on the source.
func TestImportDovecotMaildirKeepsUIDs(t *testing.T) {
	d := startDovecot(t, "")
	user := "testuser6"
	populate(t, d, user)
	changeSource(t, d, user)
	st, a := newTarget(t)
	r, err := st.OpenReplica(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var warnings []string
	stats, err := mailimport.ImportMaildir(context.Background(), a, filepath.Join(d.root, "mail", user, "Maildir"),
		mailimport.Options{Replica: r, Warn: func(s string) { warnings = append(warnings, s) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("import: %+v; warnings %q", stats, warnings)
	compareMail(t, d, user, a, true, false)

	// Then an incremental migration over IMAP takes over from the files:
	// it matches what is there by content and copies nothing again, and
	// keeps the UIDs from then on. (Special use is set only on mailboxes a
	// migration creates.)
	s := migrateOnce(t, st, d.source(user))
	if s.Messages != 0 || s.Matched != 45 {
		t.Fatalf("migration after the import: %+v", s)
	}
	compareMail(t, d, user, a, true, false)
	c := d.client(t, user)
	appendAll(t, c, "INBOX", makeMessages("INBOX", 200, 2))
	if s := migrateOnce(t, st, d.source(user)); s.Messages != 2 || s.Matched != 0 {
		t.Fatalf("incremental migration after the import: %+v", s)
	}
	compareMail(t, d, user, a, true, false)
}
