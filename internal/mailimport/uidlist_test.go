package mailimport

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// testReplica opens a fresh store with one user, as an Account and a
// Replica.
func testReplica(t testing.TB) (store.Account, store.Replica) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(t.TempDir(), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateUser(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	a, err := st.Open(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	r, err := st.OpenReplica(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return a, r
}

func uidsOf(t testing.TB, a store.Account, name string) (store.MailboxInfo, []store.UID) {
	t.Helper()
	mb, err := a.Mailbox(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := a.Snapshot(context.Background(), mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	var uids []store.UID
	for _, m := range snap.Messages {
		uids = append(uids, m.UID)
	}
	return mb, uids
}

// A Maildir imported into new or empty mailboxes keeps the UIDVALIDITY,
// UIDs and UIDNEXT its dovecot-uidlist files give (version 3 and 1);
// messages the list does not name get the next UIDs; a second run adds
// nothing.
func TestImportMaildirKeepsUIDs(t *testing.T) {
	ctx := context.Background()
	dir := copyTree(t, "testdata/maildir")
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(uidListFile, "3 V1500000000 N40 G0123456789abcdef\n5 :1672653600.M1P1.host,S=80\n9 W100 S80 :1672657200.M2P1.host\n")
	write(".Sent/"+uidListFile, "1 1500000001 7\n3 1672664400.M4P1.host\n")
	a, r := testReplica(t)
	stats, err := ImportMaildir(ctx, a, dir, Options{Replica: r})
	if err != nil || stats.Imported != 7 {
		t.Fatalf("import: %+v, %v", stats, err)
	}
	inbox, uids := uidsOf(t, a, "INBOX")
	if inbox.UIDValidity != 1500000000 || inbox.UIDNext != 40 || !slices.Equal(uids, []store.UID{5, 9, 10}) {
		t.Fatalf("INBOX: UIDVALIDITY %d, UIDNEXT %d, UIDs %v", inbox.UIDValidity, inbox.UIDNext, uids)
	}
	var subject5 string
	if err := a.Messages(ctx, inbox.ID, store.UIDSetOf(5), func(m *store.MessageData) error {
		subject5 = m.Structure.Search.Subject
		if m.Flags.System != store.FlagSeen|store.FlagAnswered {
			t.Errorf("UID 5 flags %+v", m.Flags)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if subject5 != "seen and replied, keyword b" {
		t.Fatalf("UID 5 is %q", subject5)
	}
	sent, uids := uidsOf(t, a, "Sent")
	if sent.UIDValidity != 1500000001 || sent.UIDNext != 7 || !slices.Equal(uids, []store.UID{3}) {
		t.Fatalf("Sent: UIDVALIDITY %d, UIDNEXT %d, UIDs %v", sent.UIDValidity, sent.UIDNext, uids)
	}
	if archive, uids := uidsOf(t, a, "Archive"); archive.UIDValidity == 0 || !slices.Equal(uids, []store.UID{1}) {
		t.Fatalf("Archive (no uidlist): %+v %v", archive, uids)
	}

	stats, err = ImportMaildir(ctx, a, dir, Options{Replica: r})
	if err != nil || stats.Imported != 0 || stats.Skipped != 7 {
		t.Fatalf("second import: %+v, %v", stats, err)
	}
	if again, uids := uidsOf(t, a, "INBOX"); again.UIDValidity != inbox.UIDValidity || !slices.Equal(uids, []store.UID{5, 9, 10}) {
		t.Fatalf("after second import: %+v %v", again, uids)
	}
}

// A mailbox that already held messages keeps its own UIDVALIDITY: the
// imported messages get new UIDs.
func TestImportMaildirUIDsNotKeptInUsedMailbox(t *testing.T) {
	ctx := context.Background()
	dir := copyTree(t, "testdata/maildir")
	if err := os.WriteFile(filepath.Join(dir, uidListFile), []byte("3 V1500000000 N40\n5 :1672653600.M1P1.host,S=80\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, r := testReplica(t)
	before, _ := uidsOf(t, a, "INBOX")
	if _, err := a.Append(ctx, before.ID, []store.NewMessage{{Body: strings.NewReader("Subject: here first\r\n\r\nx\r\n")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ImportMaildir(ctx, a, dir, Options{Replica: r}); err != nil {
		t.Fatal(err)
	}
	inbox, uids := uidsOf(t, a, "INBOX")
	if inbox.UIDValidity != before.UIDValidity || !slices.Equal(uids, []store.UID{1, 2, 3, 4}) {
		t.Fatalf("INBOX: UIDVALIDITY %d (was %d), UIDs %v", inbox.UIDValidity, before.UIDValidity, uids)
	}
}

func TestReadUIDList(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		text string
		ok   bool
	}{
		{"3 V7 N3\n1 :a\n2 :b:2,S\n", true},
		{"2 V7 N3\n", false},
		{"3 N3\n1 :a\n", false},
		{"garbage", false},
	} {
		os.WriteFile(filepath.Join(dir, uidListFile), []byte(tc.text), 0o644)
		l, err := readUIDList(dir)
		if err != nil {
			t.Fatal(err)
		}
		if (l != nil) != tc.ok {
			t.Fatalf("%q: %+v", tc.text, l)
		}
		if l != nil && (l.uidValidity != 7 || l.uids["a"] != 1 || l.uids["b"] != 2 || l.uidNext != 3) {
			t.Fatalf("%q: %+v", tc.text, l)
		}
	}
}
