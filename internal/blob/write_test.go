package blob

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func tmpCount(t *testing.T, s *Store) int {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(s.Dir(), "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func TestCommitBatch(t *testing.T) {
	s := newStore(t, 0)
	var ps []*Pending
	for i := 0; i < 40; i++ {
		// Every fourth message repeats an earlier one: duplicates inside
		// one batch share a file.
		p, err := s.Write(bytes.NewReader([]byte(fmt.Sprintf("message %d\r\n", i%30))))
		if err != nil {
			t.Fatal(err)
		}
		// Readable before the commit, as the parser needs.
		b, _ := io.ReadAll(io.NewSectionReader(p.ReaderAt(), 0, p.Size))
		if string(b) != fmt.Sprintf("message %d\r\n", i%30) {
			t.Fatalf("pending %d reads %q", i, b)
		}
		if s.Has(p.ID) {
			t.Fatalf("blob %d visible before Commit", i)
		}
		ps = append(ps, p)
	}
	if err := s.Commit(ps); err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		if n, err := s.Verify(p.ID); err != nil || n != p.Size {
			t.Fatalf("blob %d: %d, %v", i, n, err)
		}
	}
	if n := tmpCount(t, s); n != 0 {
		t.Fatalf("%d temporary files left", n)
	}
}

func TestCommitReplacesCorruptFile(t *testing.T) {
	s := newStore(t, 0)
	data := []byte("Subject: x\r\n\r\nhello\r\n")
	id, _, err := s.Put(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	// What a crash can leave: the right name and size, the wrong bytes.
	if err := os.WriteFile(filepath.Join(s.Dir(), id[:2], id), bytes.Repeat([]byte{0}, len(data)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(id); err == nil {
		t.Fatal("corruption not detected")
	}
	if id2, _, err := s.Put(bytes.NewReader(data)); err != nil || id2 != id {
		t.Fatalf("Put again = %s, %v", id2, err)
	}
	if _, err := s.Verify(id); err != nil {
		t.Fatalf("not repaired: %v", err)
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	s := newStore(t, 0)
	p, err := s.Write(bytes.NewReader([]byte("abc")))
	if err != nil {
		t.Fatal(err)
	}
	s.Abort([]*Pending{p})
	s.Abort([]*Pending{p}) // twice is harmless
	if n := tmpCount(t, s); n != 0 || s.Has(p.ID) {
		t.Fatalf("after Abort: %d temporary files, blob present %v", n, s.Has(p.ID))
	}
}
