package mailimport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/tidemark-mail/tidemark/internal/corpus"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// testAccounts opens a fresh store and returns an account for each name.
func testAccounts(t testing.TB, users ...string) []store.Account {
	t.Helper()
	st, err := sqlitestore.Open(t.TempDir(), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var out []store.Account
	for _, u := range users {
		if err := st.CreateUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		a, err := st.Open(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		out = append(out, a)
	}
	return out
}

// storedMessage is what a round trip must keep.
type storedMessage struct {
	Body     string
	Flags    string
	Date     time.Time
	Mailbox  string
	BlobID   string
	BodySize int
}

// dump lists every message of every mailbox, per mailbox in UID order.
func dump(t testing.TB, acct store.Account) map[string][]storedMessage {
	t.Helper()
	ctx := context.Background()
	boxes, err := acct.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]storedMessage{}
	for _, b := range boxes {
		out[b.Name] = nil
		err := acct.Messages(ctx, b.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}}, func(m *store.MessageData) error {
			blob, err := acct.OpenBlob(ctx, m.BlobID)
			if err != nil {
				return err
			}
			defer blob.Close()
			data, err := io.ReadAll(blob)
			if err != nil {
				return err
			}
			body := string(data)
			if len(body) > 4096 {
				body = body[:4096] // the BlobID covers the rest
			}
			out[b.Name] = append(out[b.Name], storedMessage{
				Body: body, Flags: fmt.Sprintf("%d %v", m.Flags.System, m.Flags.Keywords),
				Date: m.InternalDate.UTC(), Mailbox: b.Name, BlobID: m.BlobID, BodySize: len(data),
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func sameMail(t *testing.T, what string, got, want map[string][]storedMessage) {
	t.Helper()
	if !reflect.DeepEqual(sortedKeys((got)), sortedKeys((want))) {
		t.Fatalf("%s: mailboxes %q, want %q", what, sortedKeys((got)), sortedKeys((want)))
	}
	for name, w := range want {
		g := got[name]
		if len(g) != len(w) {
			t.Errorf("%s: %s has %d messages, want %d", what, name, len(g), len(w))
			continue
		}
		for i := range w {
			if g[i] != w[i] {
				t.Errorf("%s: %s message %d:\n got %+v\nwant %+v", what, name, i+1, g[i], w[i])
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// copyTree copies a fixture directory so tests can set file times.
func copyTree(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestImportMaildirFixture(t *testing.T) {
	ctx := context.Background()
	dir := copyTree(t, "testdata/maildir")
	when := time.Date(2023, 1, 2, 10, 0, 0, 0, time.UTC)
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.Contains(p, "M") {
			when = when.Add(time.Hour)
			os.Chtimes(p, when, when)
		}
		return nil
	})
	accts := testAccounts(t, "a")
	stats, err := ImportMaildir(ctx, accts[0], dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Imported != 7 || stats.Skipped != 0 || stats.Failed != 0 {
		t.Errorf("stats %+v", stats)
	}
	got := dump(t, accts[0])
	wantBoxes := []string{"Archive", "Archive/2023", "Entwürfe", "INBOX", "Sent"}
	if !slices.Equal(sortedKeys((got)), wantBoxes) {
		t.Fatalf("mailboxes %q, want %q", sortedKeys((got)), wantBoxes)
	}
	inbox := got["INBOX"]
	if len(inbox) != 3 {
		t.Fatalf("INBOX has %d messages", len(inbox))
	}
	flagsBySubject := map[string]string{}
	for _, m := range inbox {
		subject := strings.SplitN(strings.SplitN(m.Body, "Subject: ", 2)[1], "\n", 2)[0]
		flagsBySubject[strings.TrimSpace(subject)] = m.Flags
		if m.Date.Year() != 2023 {
			t.Errorf("%q: date %v, want the file's mtime", subject, m.Date)
		}
	}
	want := map[string]string{
		"seen and replied, keyword b":                fmt.Sprintf("%d [Work]", store.FlagSeen|store.FlagAnswered),
		"forwarded flagged draft trashed, keyword a": fmt.Sprintf("%d [$Forwarded $Label1]", store.FlagDraft|store.FlagFlagged|store.FlagDeleted),
		"new, CRLF": "0 []",
	}
	if !reflect.DeepEqual(flagsBySubject, want) {
		t.Errorf("INBOX flags %v, want %v", flagsBySubject, want)
	}
	if !strings.Contains(inbox[1].Body+inbox[2].Body+inbox[0].Body, "Subject: new, CRLF\r\n") {
		t.Error("CRLF message not stored as is")
	}

	// A second run adds nothing.
	stats, err = ImportMaildir(ctx, accts[0], dir, Options{})
	if err != nil || stats.Imported != 0 || stats.Skipped != 7 {
		t.Errorf("second import: %+v, %v", stats, err)
	}
	sameMail(t, "after second import", dump(t, accts[0]), got)
}

func TestImportMboxTwiceAddsNothing(t *testing.T) {
	ctx := context.Background()
	acct := testAccounts(t, "a")[0]
	stats, err := ImportMbox(ctx, acct, "testdata/tricky.mbox", Options{Mailbox: "Old/Mail", BatchSize: 3})
	if err != nil || stats.Imported != 4 {
		t.Fatalf("import: %+v, %v", stats, err)
	}
	first := dump(t, acct)
	msgs := first["Old/Mail"]
	if len(msgs) != 4 {
		t.Fatalf("Old/Mail has %d messages", len(msgs))
	}
	if want := time.Date(2023, 2, 14, 8, 0, 0, 0, time.UTC); !msgs[1].Date.Equal(want) {
		t.Errorf("date from From_ line: %v, want %v", msgs[1].Date, want)
	}
	stats, err = ImportMbox(ctx, acct, "testdata/tricky.mbox", Options{Mailbox: "Old/Mail"})
	if err != nil || stats.Imported != 0 || stats.Skipped != 4 {
		t.Fatalf("second import: %+v, %v", stats, err)
	}
	sameMail(t, "after second import", dump(t, acct), first)
}

func TestImportEmptyAndMalformedMbox(t *testing.T) {
	ctx := context.Background()
	acct := testAccounts(t, "a")[0]
	stats, err := ImportMbox(ctx, acct, "testdata/empty.mbox", Options{})
	if err != nil || stats.Imported != 0 {
		t.Errorf("empty mbox: %+v, %v", stats, err)
	}
	_, err = ImportMbox(ctx, acct, "testdata/malformed.mbox", Options{})
	var se *MboxSyntaxError
	if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), "testdata/malformed.mbox:1: ") {
		t.Errorf("malformed mbox: %v, want an error at testdata/malformed.mbox:1", err)
	}

	// In a directory, what was imported before the bad file stays.
	dir := t.TempDir()
	good, _ := os.ReadFile("testdata/tricky.mbox")
	bad := append(slices.Clone(good), "\ngarbage after a blank line is body, but a file starting with it is not\n"...)
	os.WriteFile(filepath.Join(dir, "A.mbox"), good, 0o600)
	os.WriteFile(filepath.Join(dir, "B.mbox"), bad[len(good)+1:], 0o600)
	stats, err = ImportMbox(ctx, acct, dir, Options{})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "B.mbox")+":1: ") {
		t.Errorf("directory with a bad file: %v", err)
	}
	if stats.Imported != 4 || len(dump(t, acct)["A"]) != 4 {
		t.Errorf("messages before the bad file: %+v", stats)
	}
}

func TestImportMissingMaildir(t *testing.T) {
	acct := testAccounts(t, "a")[0]
	_, err := ImportMaildir(context.Background(), acct, t.TempDir(), Options{})
	if err == nil || !strings.Contains(err.Error(), "not a maildir") {
		t.Errorf("got %v", err)
	}
}

// roundTrip exports src both ways and imports each export into a new
// account, which must then hold exactly what src holds.
func roundTrip(t *testing.T, src store.Account, others []store.Account) {
	ctx := context.Background()
	want := dump(t, src)

	mdir := filepath.Join(t.TempDir(), "Maildir")
	if _, err := ExportMaildir(ctx, src, mdir, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ImportMaildir(ctx, others[0], mdir, Options{}); err != nil {
		t.Fatal(err)
	}
	sameMail(t, "via Maildir", dump(t, others[0]), want)

	mboxDir := filepath.Join(t.TempDir(), "mbox")
	if _, err := ExportMbox(ctx, src, mboxDir, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ImportMbox(ctx, others[1], mboxDir, Options{}); err != nil {
		t.Fatal(err)
	}
	sameMail(t, "via mbox", dump(t, others[1]), want)
}

func TestRoundTripFromMaildir(t *testing.T) {
	accts := testAccounts(t, "a", "b", "c")
	if _, err := ImportMaildir(context.Background(), accts[0], "testdata/maildir", Options{}); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, accts[0], accts[1:])
}

func TestRoundTripFromMbox(t *testing.T) {
	ctx := context.Background()
	accts := testAccounts(t, "a", "b", "c")
	dir := t.TempDir()
	// A 20 MB attachment, made here rather than committed.
	attachment := make([]byte, 15<<20)
	rand.Read(attachment)
	var big bytes.Buffer
	big.WriteString("From big@example.org Fri Mar  3 12:00:00 2023\nFrom: big@example.org\nSubject: large\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=b\nStatus: RO\n\n--b\nContent-Type: text/plain\n\nsee attached\nFrom the start of a line\n--b\n" +
		"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n")
	enc := base64.StdEncoding.EncodeToString(attachment)
	for len(enc) > 76 {
		big.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	big.WriteString(enc + "\n--b--\n\n")
	if big.Len() < 20<<20 {
		t.Fatalf("large message is only %d bytes", big.Len())
	}
	os.WriteFile(filepath.Join(dir, "big.mbox"), big.Bytes(), 0o600)

	if _, err := ImportMbox(ctx, accts[0], "testdata/tricky.mbox", Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ImportMbox(ctx, accts[0], filepath.Join(dir, "big.mbox"), Options{Mailbox: "Archive/Big"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ImportMaildir(ctx, accts[0], "testdata/maildir", Options{Mailbox: "FromMaildir"}); err != nil {
		t.Fatal(err)
	}
	got := dump(t, accts[0])
	if m := got["Archive/Big"]; len(m) != 1 || m[0].BodySize < 20<<20 || m[0].Flags != fmt.Sprint(store.FlagSeen, " []") {
		t.Fatalf("large message: %d messages %+v", len(m), m)
	}
	if len(got["FromMaildir/Archive/2023"]) != 1 {
		t.Fatalf("maildir under a prefix: %q", sortedKeys((got)))
	}
	roundTrip(t, accts[0], accts[1:])
}

func TestImportBenchMbox(t *testing.T) {
	path := corpus.Path()
	if _, err := os.Stat(path); err != nil {
		if corpus.Required() {
			t.Fatalf("corpus required: %v", err)
		}
		t.Skipf("%s not present", path)
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	acct := testAccounts(t, "a")[0]
	stats, err := ImportMbox(context.Background(), acct, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Imported+stats.Skipped != 2000 || stats.Failed != 0 {
		t.Fatalf("stats %+v, want 2000 messages read", stats)
	}
	st, err := acct.Status(context.Background(), mustMailbox(t, acct, "INBOX").ID)
	if err != nil || int(st.Messages) != stats.Imported {
		t.Fatalf("INBOX has %d messages, imported %d (%v)", st.Messages, stats.Imported, err)
	}
}

func mustMailbox(t testing.TB, acct store.Account, name string) store.MailboxInfo {
	t.Helper()
	info, err := acct.Mailbox(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// Messages from LF-only files are stored with CRLF line endings, the form
// IMAP serves; nothing else in them changes.
func TestImportStoresCRLF(t *testing.T) {
	ctx := context.Background()
	acct := testAccounts(t, "crlf")[0]
	if _, err := ImportMbox(ctx, acct, "testdata/tricky.mbox", Options{Mailbox: "Lines"}); err != nil {
		t.Fatal(err)
	}
	msgs := dump(t, acct)["Lines"]
	if len(msgs) == 0 {
		t.Fatal("nothing imported")
	}
	for i, m := range msgs {
		if strings.Contains(strings.ReplaceAll(m.Body, "\r\n", ""), "\n") {
			t.Errorf("message %d has a bare LF: %q", i, m.Body)
		}
		if !strings.Contains(m.Body, "\r\n\r\n") {
			t.Errorf("message %d has no CRLF header/body separator: %q", i, m.Body)
		}
	}
}
