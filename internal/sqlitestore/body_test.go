package sqlitestore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/bodypack"
	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// messageOfSize returns a parseable message of exactly n bytes (n >= 200).
func messageOfSize(i, n int) []byte {
	head := testMessage(i, "X-Pad: ")
	pad := n - len(head) - 2
	return []byte(testMessage(i, "X-Pad: "+strings.Repeat("p", pad)+"\r\n"))
}

func hasBlobFile(a *Account, id string) bool {
	_, err := os.Stat(filepath.Join(a.u.dir, "blobs", id[:2], id))
	return err == nil
}

func readAllBlob(t *testing.T, a *Account, id string) []byte {
	t.Helper()
	b, err := a.OpenBlob(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(got)) != b.Size() {
		t.Fatalf("Size %d, read %d bytes", b.Size(), len(got))
	}
	tail := make([]byte, 4)
	if _, err := b.ReadAt(tail, b.Size()-4); err != nil || !bytes.Equal(tail, got[len(got)-4:]) {
		t.Fatalf("ReadAt = %q, %v", tail, err)
	}
	return got
}

// TestInlineThreshold appends bodies just at and just over the inline
// threshold: the first lives in the database only, the second in a blob
// file only, and both read back the same way under their content id.
func TestInlineThreshold(t *testing.T) {
	const limit = 1000
	s, a := newAccountWith(t, Options{InlineBodyMax: limit})
	inbox := mustMailbox(t, a, "INBOX")
	small, large := messageOfSize(1, limit), messageOfSize(2, limit+1)
	if len(small) != limit || len(large) != limit+1 {
		t.Fatalf("sizes %d %d", len(small), len(large))
	}
	res, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: bytes.NewReader(small)}, {Body: bytes.NewReader(large)}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	a.Messages(ctx, inbox.ID, store.UIDSetOf(res.UIDs...), func(m *store.MessageData) error {
		ids = append(ids, m.BlobID)
		return nil
	})
	for i, body := range [][]byte{small, large} {
		sum := sha256.Sum256(body)
		if ids[i] != hex.EncodeToString(sum[:]) {
			t.Fatalf("message %d: id %s is not the SHA-256 of its bytes", i, ids[i])
		}
		if got := readAllBlob(t, a, ids[i]); !bytes.Equal(got, body) {
			t.Fatalf("message %d reads back differently", i)
		}
	}
	if _, ok, _ := inlineData(ctx, a.u.r, ids[0]); !ok || hasBlobFile(a, ids[0]) {
		t.Fatalf("body at the threshold: inline %v, file %v", ok, hasBlobFile(a, ids[0]))
	}
	if _, ok, _ := inlineData(ctx, a.u.r, ids[1]); ok || !hasBlobFile(a, ids[1]) {
		t.Fatalf("body over the threshold: inline %v, file %v", ok, hasBlobFile(a, ids[1]))
	}
	// The same bytes again: same id, no second copy.
	res2, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: bytes.NewReader(small)}})
	if err != nil {
		t.Fatal(err)
	}
	a.Messages(ctx, inbox.ID, store.UIDSetOf(res2.UIDs...), func(m *store.MessageData) error {
		if m.BlobID != ids[0] {
			t.Errorf("duplicate got id %s", m.BlobID)
		}
		return nil
	})
	if n := countBodies(t, a); n != 1 {
		t.Fatalf("%d inline bodies, want 1", n)
	}
	// Expunging one of two references keeps the body.
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSetOf(res.UIDs[0])); err != nil {
		t.Fatal(err)
	}
	if got := readAllBlob(t, a, ids[0]); !bytes.Equal(got, small) {
		t.Fatal("shared body lost with its first reference")
	}
	assertClean(t, s, "alice")
}

func TestInlineTooBig(t *testing.T) {
	s, a := newAccountWith(t, Options{MaxMessageSize: 500, InlineBodyMax: 1000})
	inbox := mustMailbox(t, a, "INBOX")
	_, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: bytes.NewReader(messageOfSize(1, 501))}})
	assertErr(t, err, store.ErrTooBig)
	if _, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: bytes.NewReader(messageOfSize(1, 500))}}); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	if n := countBodies(t, a); n != 1 {
		t.Fatalf("%d inline bodies, want 1", n)
	}
	assertClean(t, s, "alice")
}

// TestCheckInlineBody corrupts and removes inline bodies behind the
// store's back; Check must report each. An orphan body is not a problem
// (it awaits reclamation) and the next collection removes it.
func TestCheckInlineBody(t *testing.T) {
	s, a := newAccount(t)
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 2, store.Flags{})
	var ids []string
	a.Messages(ctx, inbox.ID, store.UIDSetOf(1, 2), func(m *store.MessageData) error {
		ids = append(ids, m.BlobID)
		return nil
	})
	exec := func(q string, args ...any) {
		if _, err := a.u.w.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`UPDATE bodies SET data = ? WHERE id = ?`, []byte("tampered"), ids[0])
	exec(`DELETE FROM bodies WHERE id = ?`, ids[1])
	exec(`INSERT INTO bodies (id, data) VALUES (?, ?)`, strings.Repeat("0", 64), []byte("orphan"))
	ps, err := s.Check(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	text := ""
	for _, p := range ps {
		text += p.String() + "\n"
	}
	for _, want := range []string{"content hashes to", ids[1]} {
		if !strings.Contains(text, want) {
			t.Errorf("Check did not report %q:\n%s", want, text)
		}
	}
	if len(ps) != 2 {
		t.Errorf("Check reported %d problems, want 2:\n%s", len(ps), text)
	}
	if n, err := s.CollectBlobs(ctx, "alice"); err != nil || n != 1 {
		t.Fatalf("CollectBlobs = %d, %v; want the orphan removed", n, err)
	}
	if n := countBodies(t, a); n != 1 {
		t.Fatalf("%d inline bodies left, want the tampered one", n)
	}
}

// TestMigrateV2 turns a store into the version 2 layout (every body a
// file, no bodies table), reopens it and checks that the old bodies still
// read back, that new ones go inline and that the store is clean.
func TestMigrateV2(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{InlineBodyMax: -1})
	a := aliceAccount(t, s)
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 3, store.Flags{})
	a.Close()
	s.Close()
	downgradeAlice(t, dir, append(undoV4, `DROP TABLE bodies`, `DROP INDEX contents_blob`, `PRAGMA user_version = 2`)...)

	s = openStore(t, dir, Options{})
	a, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var v int
	if err := a.u.r.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("user_version %d, %v", v, err)
	}
	var old []string
	a.Messages(ctx, inbox.ID, store.UIDSetOf(1, 2, 3), func(m *store.MessageData) error {
		old = append(old, m.BlobID)
		return nil
	})
	for i, id := range old {
		if !hasBlobFile(a, id) {
			t.Fatalf("old body %d not in a file", i)
		}
		if got := readAllBlob(t, a, id); !strings.Contains(string(got), "Subject: message") {
			t.Fatalf("old body %d reads %q", i, got)
		}
	}
	appendN(t, a, inbox.ID, 2, store.Flags{})
	if n := countBodies(t, a); n == 0 {
		t.Fatal("new bodies not stored inline after conversion")
	}
	assertClean(t, s, "alice")
}

// TestBodiesCompressed stores text that compresses, text that does not,
// a short body and a body beginning with the zstd magic number, and reads
// each back byte for byte; the text that compresses takes less room in
// the database than its size, the others are stored as they are or (the
// magic) compressed so they can never be mistaken for a frame.
func TestBodiesCompressed(t *testing.T) {
	s, a := newAccount(t)
	inbox := mustMailbox(t, a, "INBOX")
	rng := rand.New(rand.NewPCG(5, 6))
	noise := make([]byte, 6000)
	for i := range noise {
		noise[i] = byte(rng.IntN(256))
	}
	bodies := map[string]string{
		"text":  testMessage(1, strings.Repeat("X-Filler: the same words again and again\r\n", 200)),
		"noise": "Subject: noise\r\n\r\n" + string(noise),
		"short": "Subject: s\r\n\r\nx\r\n",
		"magic": string(bodypack.Magic) + "Subject: not a frame\r\n\r\n" + strings.Repeat("y", 400),
	}
	for name, body := range bodies {
		res, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader(body)}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []byte
		var blobID string
		if err := a.Messages(ctx, inbox.ID, store.UIDSetOf(res.UIDs...), func(m *store.MessageData) error {
			blobID = m.BlobID
			b, err := a.OpenBlob(ctx, m.BlobID)
			if err != nil {
				return err
			}
			defer b.Close()
			got, err = io.ReadAll(b)
			return err
		}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if string(got) != body {
			t.Fatalf("%s: read back %d bytes differing from the %d stored", name, len(got), len(body))
		}
		var stored int
		if err := a.u.r.QueryRowContext(ctx, `SELECT length(data) FROM bodies WHERE id = ?`, blobID).Scan(&stored); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		switch name {
		case "text":
			if stored > len(body)/3 {
				t.Fatalf("text of %d bytes stored in %d", len(body), stored)
			}
		case "noise", "short":
			if stored != len(body) {
				t.Fatalf("%s of %d bytes stored in %d, want as it is", name, len(body), stored)
			}
		}
		if _, err := a.u.verifyBody(ctx, a.u.r, blobID); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	assertClean(t, s, "alice")
}

// TestFailedAppendLeavesNoFiles: the refusals are in the shared suite
// (storetest testAppendErrors); here, that a refused batch leaves no
// temporary file and no blob for collection to find.
func TestFailedAppendLeavesNoFiles(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{MaxMessageSize: 100})
	s.CreateUser(ctx, "bob")
	a, err := s.openAccount(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, err = a.Append(ctx, mustMailbox(t, a, "INBOX").ID, []store.NewMessage{
		{Body: strings.NewReader("small\r\n")},
		{Body: bytes.NewReader(bytes.Repeat([]byte("x"), 101))},
	})
	assertErr(t, err, store.ErrTooBig)
	if es, _ := os.ReadDir(filepath.Join(dir, "users", "bob", "blobs", "tmp")); len(es) != 0 {
		t.Fatalf("temporary files left: %d", len(es))
	}
	// A failed batch is discarded before any blob takes its content name.
	if n, err := s.CollectBlobs(ctx, "bob"); err != nil || n != 0 {
		t.Fatalf("CollectBlobs = %d, %v", n, err)
	}
	assertClean(t, s, "bob")
}

// TestCopiesShareOneBody, with bodies inline and in blob files: COPY and
// MOVE (storetest testCopyMove) store no second body, and the bodies go
// at collection once no message names them.
func TestCopiesShareOneBody(t *testing.T) {
	t.Run("inline", func(t *testing.T) { testCopiesShareOneBody(t, Options{}, true) })
	t.Run("files", func(t *testing.T) { testCopiesShareOneBody(t, Options{InlineBodyMax: -1}, false) })
}

func testCopiesShareOneBody(t *testing.T, opts Options, inline bool) {
	s, a := newAccountWith(t, opts)
	inbox := mustMailbox(t, a, "INBOX")
	dst, err := a.CreateMailbox(ctx, "Archive", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, a, inbox.ID, 4, store.Flags{})
	if _, err := a.Copy(ctx, inbox.ID, dst.ID, store.UIDSet{{Start: 2, Stop: 3}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Move(ctx, inbox.ID, dst.ID, store.UIDSet{{Start: 1, Stop: 2}}); err != nil {
		t.Fatal(err)
	}
	if n := countBodies(t, a); inline && n != 4 || !inline && n != 0 {
		t.Fatalf("%d inline bodies for 4 distinct messages (inline %v)", n, inline)
	}
	a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 100}})
	if n := countBodies(t, a); inline && n == 0 {
		t.Fatal("bodies still referenced from Archive were deleted")
	}
	if err := a.DeleteMailbox(ctx, "Archive"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CollectBlobs(ctx, "alice"); err != nil || n != 4 {
		t.Fatalf("collected %d, %v, want 4", n, err)
	}
	if n := countBodies(t, a); n != 0 {
		t.Fatalf("%d inline bodies left without messages", n)
	}
	assertClean(t, s, "alice")
}

// TestAppendBatchParallel appends one batch of 60 different messages, a
// third too large to inline, whose inline ones are hashed, parsed and
// compressed on several goroutines: every UID gets its own message's
// bytes, envelope and content id, in the order sent.
func TestAppendBatchParallel(t *testing.T) {
	_, a := newAccountWith(t, Options{InlineBodyMax: 2000})
	inbox := mustMailbox(t, a, "INBOX")
	var msgs []store.NewMessage
	var bodies []string
	for i := range 60 {
		pad := ""
		if i%3 == 0 {
			pad = "X-Pad: " + strings.Repeat("p", 3000) + "\r\n"
		}
		body := testMessage(i, pad)
		bodies = append(bodies, body)
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(body)})
	}
	res, err := a.Append(ctx, inbox.ID, msgs)
	if err != nil {
		t.Fatal(err)
	}
	byUID := map[store.UID]int{}
	for i, u := range res.UIDs {
		byUID[u] = i
	}
	seen := 0
	if err := a.Messages(ctx, inbox.ID, store.UIDSetOf(res.UIDs...), func(m *store.MessageData) error {
		i := byUID[m.UID]
		seen++
		if want := fmt.Sprintf("message %d", i); m.Structure.Envelope.Subject != want {
			t.Errorf("UID %d: subject %q, want %q", m.UID, m.Structure.Envelope.Subject, want)
		}
		sum := sha256.Sum256([]byte(bodies[i]))
		if m.BlobID != hex.EncodeToString(sum[:]) || m.Size != int64(len(bodies[i])) {
			t.Errorf("UID %d: content %s of %d bytes, not message %d's", m.UID, m.BlobID, m.Size, i)
		}
		b, err := a.OpenBlob(ctx, m.BlobID)
		if err != nil {
			return err
		}
		defer b.Close()
		got, err := io.ReadAll(b)
		if err != nil {
			return err
		}
		if string(got) != bodies[i] {
			t.Errorf("UID %d: bytes differ from message %d's", m.UID, i)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if seen != 60 {
		t.Fatalf("%d messages read back, want 60", seen)
	}
}

// TestStructureStored: a message's structure is stored as it is marshalled
// (version 3, read in place); a structure stored zstd-compressed, as
// stores written before hold it, reads back too, by Messages and by
// ReadMessages.
func TestStructureStored(t *testing.T) {
	_, a := newAccount(t)
	inbox := mustMailbox(t, a, "INBOX")
	body := testMessage(7, strings.Repeat("Received: from relay.example.net by mx.example.org; Mon, 1 Jan 2024 00:00:00 +0000\r\n", 8)+
		"Cc: Someone Else <someone@example.org>, Another One <another@example.org>\r\n")
	res, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader(body)}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := message.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := a.u.r.QueryRowContext(ctx, `SELECT structure FROM contents`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, raw) {
		t.Fatalf("structure stored in %d bytes (compressed: %v), marshalled %d", len(stored), bytes.HasPrefix(stored, bodypack.Magic), len(raw))
	}
	check := func(how string) {
		t.Helper()
		uids := store.UIDSetOf(res.UIDs...)
		n := 0
		if err := a.Messages(ctx, inbox.ID, uids, func(m *store.MessageData) error {
			n++
			if m.Structure.Envelope.Subject != "message 7" || m.Structure.Root() == nil || m.Structure.Search.Cc == "" {
				t.Errorf("%s structure by Messages: %+v", how, m.Structure)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, f := range []store.Fields{store.FieldEnvelope, store.FieldStructure} {
			if err := a.ReadMessages(ctx, inbox.ID, uids, f, func(m *store.MessageData) error {
				n++
				// The envelope alone, or the tree alone.
				if (m.Structure.Envelope.Subject == "message 7") != (f == store.FieldEnvelope) ||
					(m.Structure.Root() == nil) == (f == store.FieldStructure) || m.Structure.Size != int64(len(body)) {
					t.Errorf("%s structure by ReadMessages(%d): %+v", how, f, m.Structure)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		if n != 3 {
			t.Fatalf("%s structure: %d reads, want 3", how, n)
		}
	}
	check("stored")
	if _, err := a.u.w.ExecContext(ctx, `UPDATE contents SET structure = ?`, bodypack.Compress(raw)); err != nil {
		t.Fatal(err)
	}
	check("compressed")
}
