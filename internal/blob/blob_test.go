package blob

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func newStore(t *testing.T, max int64) *Store {
	t.Helper()
	s, err := New(filepath.Join(t.TempDir(), "blobs"), max)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPutOpenRoundTrip(t *testing.T) {
	s := newStore(t, 0)
	data := []byte("Subject: hi\r\n\r\nbody\r\n")
	id, n, err := s.Put(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if id != hex.EncodeToString(sum[:]) || n != int64(len(data)) {
		t.Fatalf("Put = %s, %d", id, n)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), id[:2], id)); err != nil {
		t.Fatalf("blob not at fan-out path: %v", err)
	}
	f, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Size() != int64(len(data)) {
		t.Fatalf("Size = %d", f.Size())
	}
	got, _ := io.ReadAll(f)
	if !bytes.Equal(got, data) {
		t.Fatalf("read %q", got)
	}
	buf := make([]byte, 4)
	if _, err := f.ReadAt(buf, 15); err != nil || string(buf) != "body" {
		t.Fatalf("ReadAt = %q, %v", buf, err)
	}
	if n, err := s.Verify(id); err != nil || n != int64(len(data)) {
		t.Fatalf("Verify = %d, %v", n, err)
	}
	assertNoTemp(t, s)
}

func TestPutIdempotent(t *testing.T) {
	s := newStore(t, 0)
	id1, _, err := s.Put(strings.NewReader("same"))
	if err != nil {
		t.Fatal(err)
	}
	id2, _, err := s.Put(strings.NewReader("same"))
	if err != nil || id1 != id2 {
		t.Fatalf("second Put = %s, %v", id2, err)
	}
	count := 0
	s.IDs(func(string) error { count++; return nil })
	if count != 1 {
		t.Fatalf("%d blobs stored, want 1", count)
	}
	assertNoTemp(t, s)
}

func TestPutTooBigLeavesNothing(t *testing.T) {
	s := newStore(t, 10)
	if _, _, err := s.Put(strings.NewReader("0123456789")); err != nil {
		t.Fatalf("exactly at the limit: %v", err)
	}
	_, _, err := s.Put(strings.NewReader("0123456789A"))
	if !errors.Is(err, store.ErrTooBig) {
		t.Fatalf("err = %v, want ErrTooBig", err)
	}
	count := 0
	s.IDs(func(string) error { count++; return nil })
	if count != 1 {
		t.Fatalf("%d blobs stored, want 1", count)
	}
	assertNoTemp(t, s)
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n > 0 {
		r.n--
		return copy(p, "xxxx"), nil
	}
	return 0, errors.New("connection reset")
}

func TestPutReaderErrorLeavesNothing(t *testing.T) {
	s := newStore(t, 0)
	if _, _, err := s.Put(&failingReader{n: 3}); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("err = %v", err)
	}
	assertNoTemp(t, s)
}

func TestOpenMissingAndInvalid(t *testing.T) {
	s := newStore(t, 0)
	for _, id := range []string{strings.Repeat("a", 64), "../../etc/passwd", strings.Repeat("A", 64), ""} {
		if _, err := s.Open(id); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q) = %v, want ErrNotExist", id, err)
		}
	}
}

func TestVerifyDetectsCorruption(t *testing.T) {
	s := newStore(t, 0)
	id, _, _ := s.Put(strings.NewReader("original"))
	p := filepath.Join(s.Dir(), id[:2], id)
	os.Chmod(p, 0o600)
	if err := os.WriteFile(p, []byte("tampered"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(id); err == nil {
		t.Fatal("Verify accepted corrupted blob")
	}
}

func TestCollect(t *testing.T) {
	s := newStore(t, 0)
	keep, _, _ := s.Put(strings.NewReader("keep me"))
	drop, _, _ := s.Put(strings.NewReader("drop me"))
	stale := filepath.Join(s.Dir(), "tmp", "put-stale")
	os.WriteFile(stale, []byte("partial"), 0o600)
	old := staleTempAgo()
	os.Chtimes(stale, old, old)
	fresh := filepath.Join(s.Dir(), "tmp", "put-fresh")
	os.WriteFile(fresh, []byte("in progress"), 0o600)

	st, err := s.Collect(func(id string) bool { return id == keep })
	if err != nil {
		t.Fatal(err)
	}
	if st.Kept != 1 || st.Removed != 1 {
		t.Fatalf("stats = %+v", st)
	}
	if !s.Has(keep) || s.Has(drop) {
		t.Fatalf("has keep=%v drop=%v", s.Has(keep), s.Has(drop))
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatal("stale temp file survived")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatal("fresh temp file removed")
	}
}

func assertNoTemp(t *testing.T, s *Store) {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(s.Dir(), "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 0 {
		t.Fatalf("%d temporary files left behind", len(es))
	}
}

func staleTempAgo() (t time.Time) { return time.Now().Add(-2 * staleTemp) }
