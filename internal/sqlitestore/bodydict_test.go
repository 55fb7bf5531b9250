package sqlitestore

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/tidemark-mail/tidemark/internal/bodypack"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// dictTestMessage is a small text message, compressed when stored.
func dictTestMessage(i int) string {
	return fmt.Sprintf("From: Someone <someone@example.org>\r\nTo: alice@example.org\r\nSubject: note %d\r\n"+
		"Message-ID: <%d@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", i, i) +
		strings.Repeat(fmt.Sprintf("line %d of a note that compresses well\r\n", i), 20)
}

// TestBodyFramesNameDict: a stored body is one frame naming the
// dictionary, and it reads back.
func TestBodyFramesNameDict(t *testing.T) {
	data := []byte(dictTestMessage(1))
	packed := bodypack.Pack(data)
	var h zstd.Header
	if err := h.Decode(packed); err != nil || h.DictionaryID != bodypack.DictID {
		t.Fatalf("frame header %+v, %v: want dictionary %#x", h, err, bodypack.DictID)
	}
	if got, err := bodypack.Unpack(packed); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("unpack: %v", err)
	}
}

// TestMigrateV13Bodies converts a version 13 database whose bodies were
// compressed without the dictionary and whose rows keep their previews:
// both read as they are (the bodies byte for byte, the stored previews as
// stored), Check finds nothing wrong, and a message appended after the
// upgrade is stored with the dictionary and without a preview, its
// preview computed when read.
func TestMigrateV13Bodies(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	a := aliceAccount(t, s)
	inbox := mustMailbox(t, a, "INBOX")
	var msgs []store.NewMessage
	for i := 1; i <= 5; i++ {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(dictTestMessage(i))})
	}
	if _, err := a.Append(ctx, inbox.ID, msgs); err != nil {
		t.Fatal(err)
	}
	a.Close()
	s.Close()

	// Rewrite the database as version 13 left it: frames without a
	// dictionary, a preview in every row.
	db, err := sql.Open("sqlite", dsn(filepath.Join(dir, "users", "alice", "meta.db"), false))
	if err != nil {
		t.Fatal(err)
	}
	old, _ := zstd.NewWriter(nil, zstd.WithZeroFrames(true))
	for i := 1; i <= 5; i++ {
		data := []byte(dictTestMessage(i))
		sum := sha256.Sum256(data)
		id := hex.EncodeToString(sum[:])
		if _, err := db.Exec(`UPDATE bodies SET data = ? WHERE id = ?`, old.EncodeAll(data, nil), id); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE contents SET preview = ? WHERE blob_id = ?`, fmt.Sprintf("stored preview %d", i), id); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range append(slices.Clone(undoV14), `PRAGMA user_version = 13`) {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s = openStore(t, dir, Options{})
	a, err = s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader(dictTestMessage(6))}}); err != nil {
		t.Fatal(err)
	}
	n := 0
	err = a.ReadMessages(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 6}}, store.FieldStructure|store.FieldPreview|store.FieldBody, func(m *store.MessageData) error {
		n++
		got, err := io.ReadAll(m.Body)
		if err != nil || string(got) != dictTestMessage(int(m.UID)) {
			t.Errorf("UID %d: body differs (%v)", m.UID, err)
		}
		want := fmt.Sprintf("stored preview %d", m.UID)
		if m.UID == 6 && len(m.Preview) > 100 {
			want = strings.TrimSpace(strings.Repeat("line 6 of a note that compresses well ", 6))[:len(m.Preview)]
		}
		if !m.HasPreview || m.Preview != want {
			t.Errorf("UID %d: preview %q (%v), want %q", m.UID, m.Preview, m.HasPreview, want)
		}
		return nil
	})
	if err != nil || n != 6 {
		t.Fatalf("read %d messages: %v", n, err)
	}
	var packed []byte
	var preview sql.NullString
	sum := sha256.Sum256([]byte(dictTestMessage(6)))
	if err := a.u.r.QueryRow(`SELECT b.data, c.preview FROM bodies b JOIN contents c ON c.blob_id = b.id WHERE b.id = ?`,
		hex.EncodeToString(sum[:])).Scan(&packed, &preview); err != nil {
		t.Fatal(err)
	}
	var h zstd.Header
	if err := h.Decode(packed); err != nil || h.DictionaryID != bodypack.DictID || preview.Valid {
		t.Fatalf("new body: frame %+v (%v), preview %v: want dictionary %#x, no preview", h, err, preview, bodypack.DictID)
	}
	assertClean(t, s, "alice")
}
