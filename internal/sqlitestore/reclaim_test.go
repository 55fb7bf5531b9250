package sqlitestore

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// reclaimSizes are message sizes on both sides of the inline threshold
// used by the reclaim tests (InlineBodyMax 1000).
var reclaimSizes = map[string]int{"inline": 600, "file": 3000}

// TestReclaimWaitsForReaders: a message expunged while a reader holds its
// row keeps its body until that reader is done, however the reclamation
// pass is timed: the pass starts after the expunge and, once it is
// waiting, the reader opens and reads the whole body. Only then is the
// body removed.
func TestReclaimWaitsForReaders(t *testing.T) {
	for name, size := range reclaimSizes {
		t.Run(name, func(t *testing.T) {
			s, a := newAccountWith(t, Options{InlineBodyMax: 1000})
			inbox := mustMailbox(t, a, "INBOX")
			body := messageOfSize(1, size)
			if _, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: bytes.NewReader(body)}}); err != nil {
				t.Fatal(err)
			}
			waiting := make(chan struct{})
			var once sync.Once
			a.u.rc.waiting = func() { once.Do(func() { close(waiting) }) }
			passDone := make(chan error, 1)
			var blobID string
			err := a.Messages(ctx, inbox.ID, store.UIDSetOf(1), func(m *store.MessageData) error {
				blobID = m.BlobID
				// Another session expunges; reclamation starts.
				if res, err := a.Expunge(ctx, inbox.ID, store.UIDSetOf(1)); err != nil || len(res.UIDs) != 1 {
					t.Fatalf("expunge = %+v, %v", res, err)
				}
				go func() {
					_, err := s.Reclaim(ctx, "alice", -1)
					passDone <- err
				}()
				<-waiting
				// Give a pass that does not wait the time to remove the
				// body (a correct one never ends here, however long).
				select {
				case err := <-passDone:
					t.Fatalf("the pass ended while a reader held the row: %v", err)
				case <-time.After(50 * time.Millisecond):
				}
				if got := readAllBlob(t, a, m.BlobID); !bytes.Equal(got, body) {
					t.Fatalf("read %d bytes, want the %d stored", len(got), len(body))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := <-passDone; err != nil {
				t.Fatal(err)
			}
			if _, err := a.OpenBlob(ctx, blobID); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("OpenBlob after reclamation = %v, want fs.ErrNotExist", err)
			}
			if n := countBodies(t, a); n != 0 || hasBlobFile(a, blobID) {
				t.Fatalf("body left: %d inline, file %v", n, hasBlobFile(a, blobID))
			}
			assertClean(t, s, "alice")
		})
	}
}

// TestReclaimSparesRenamedBody: a body that a pass chose is appended again
// (the same bytes) while the pass waits, then expunged again: the new
// reader of the second copy must still find it, and the body survives
// the pass.
func TestReclaimSparesRenamedBody(t *testing.T) {
	for name, size := range reclaimSizes {
		t.Run(name, func(t *testing.T) {
			s, a := newAccountWith(t, Options{InlineBodyMax: 1000})
			inbox := mustMailbox(t, a, "INBOX")
			body := messageOfSize(1, size)
			add := func() store.UID {
				res, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: bytes.NewReader(body)}})
				if err != nil {
					t.Fatal(err)
				}
				return res.UIDs[0]
			}
			first := add()
			if _, err := a.Expunge(ctx, inbox.ID, store.UIDSetOf(first)); err != nil {
				t.Fatal(err)
			}
			// A reader that started before the pass holds it up while the
			// same bytes arrive again and a new reader reads them.
			reader := a.u.rc.readers.enter()
			waiting := make(chan struct{})
			var once sync.Once
			a.u.rc.waiting = func() { once.Do(func() { close(waiting) }) }
			passDone := make(chan error, 1)
			go func() {
				_, err := s.Reclaim(ctx, "alice", -1)
				passDone <- err
			}()
			<-waiting
			second := add()
			var inner sync.WaitGroup
			inner.Add(1)
			rowRead := make(chan string)
			release := make(chan struct{})
			go func() {
				defer inner.Done()
				a.Messages(ctx, inbox.ID, store.UIDSetOf(second), func(m *store.MessageData) error {
					rowRead <- m.BlobID
					<-release
					return nil
				})
			}()
			id := <-rowRead
			if _, err := a.Expunge(ctx, inbox.ID, store.UIDSetOf(second)); err != nil {
				t.Fatal(err)
			}
			a.u.rc.readers.exit(reader)
			if err := <-passDone; err != nil {
				t.Fatal(err)
			}
			if got := readAllBlob(t, a, id); !bytes.Equal(got, body) {
				t.Fatalf("the body a reader still held was reclaimed")
			}
			close(release)
			inner.Wait()
			assertClean(t, s, "alice")
			// Nothing names it any more: the next pass takes it.
			if n, err := s.CollectBlobs(ctx, "alice"); err != nil || n != 1 {
				t.Fatalf("CollectBlobs = %d, %v; want 1", n, err)
			}
		})
	}
}

// TestReclaimMinAge: a young unreferenced file is kept (another process
// may be about to commit a message naming it) and taken once old enough;
// a reused file counts as young again.
func TestReclaimMinAge(t *testing.T) {
	s, a := newAccountWith(t, Options{InlineBodyMax: 1000})
	inbox := mustMailbox(t, a, "INBOX")
	body := messageOfSize(1, 3000)
	res, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: bytes.NewReader(body)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSetOf(res.UIDs[0])); err != nil {
		t.Fatal(err)
	}
	st, err := s.Reclaim(ctx, "alice", time.Hour)
	if err != nil || st.Bodies != 0 || st.Kept != 1 {
		t.Fatalf("young file: %+v, %v; want it kept", st, err)
	}
	// Make it old, then reuse it as another append would: young again.
	var id string
	a.u.blobs.IDs(func(x string) error { id = x; return nil })
	old := time.Now().Add(-2 * time.Hour)
	path := filepath.Join(a.u.dir, "blobs", id[:2], id)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	res, err = a.Append(ctx, inbox.ID, []store.NewMessage{{Body: bytes.NewReader(body)}})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || time.Since(fi.ModTime()) > time.Hour {
		t.Fatalf("reused file not touched: %v", err)
	}
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSetOf(res.UIDs[0])); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Reclaim(ctx, "alice", time.Hour); err != nil || st.Kept != 1 {
		t.Fatalf("reused file: %+v, %v; want it kept", st, err)
	}
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	st, err = s.Reclaim(ctx, "alice", time.Hour)
	if err != nil || st.Bodies != 1 || st.Freed < int64(len(body)) {
		t.Fatalf("old file: %+v, %v; want it removed", st, err)
	}
	if hasBlobFile(a, id) {
		t.Fatal("file still there")
	}
}

// dirBytes adds up the sizes of the files under dir; files removed while
// it looks (reclamation runs meanwhile) are not counted.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		switch {
		case err == nil:
			n += fi.Size()
		case errors.Is(err, fs.ErrNotExist):
			err = nil
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReclaimBackground: with background reclamation on, the disk space
// of expunged messages larger than the inline limit returns by itself,
// while readers that keep reading every message they can address never
// fail although writers expunge under them all along.
func TestReclaimBackground(t *testing.T) {
	s, a := newAccountWith(t, Options{InlineBodyMax: 1000, ReclaimEvery: time.Millisecond, ReclaimMinAge: -1})
	inbox := mustMailbox(t, a, "INBOX")
	blobDir := filepath.Join(a.u.dir, "blobs")
	empty := dirBytes(t, blobDir)

	var stop atomic.Bool
	var reads, readErrs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				err := a.Messages(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}}, func(m *store.MessageData) error {
					b, err := a.OpenBlob(ctx, m.BlobID)
					if err != nil {
						return err
					}
					defer b.Close()
					n, err := io.Copy(io.Discard, b)
					if err == nil && n != m.Size {
						err = errors.New("short body")
					}
					reads.Add(1)
					return err
				})
				if err != nil {
					readErrs.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	const rounds = 40
	for i := range rounds {
		var msgs []store.NewMessage
		for j := range 4 {
			size := 3000
			if j%2 == 0 {
				size = 600
			}
			msgs = append(msgs, store.NewMessage{Body: bytes.NewReader(messageOfSize(i*4+j, size))})
		}
		res, err := a.Append(ctx, inbox.ID, msgs)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Expunge(ctx, inbox.ID, store.UIDSetOf(res.UIDs[0], res.UIDs[1], res.UIDs[2])); err != nil {
			t.Fatal(err)
		}
	}
	// Then everything goes.
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: store.MaxUID}}); err != nil {
		t.Fatal(err)
	}
	stop.Store(true)
	wg.Wait()
	if n := readErrs.Load(); n > 0 {
		t.Fatalf("%d reads failed (of %d); first: %v", n, reads.Load(), firstErr.Load())
	}
	t.Logf("%d bodies read while writers expunged", reads.Load())
	deadline := time.Now().Add(time.Minute) // only catches a hang
	for {
		got := dirBytes(t, blobDir)
		if got == empty && countBodies(t, a) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("blob files still hold %d bytes (empty store %d), %d inline bodies", got, empty, countBodies(t, a))
		}
		time.Sleep(5 * time.Millisecond)
	}
	assertClean(t, s, "alice")
}

// TestCheckBesideServer: Check in one process while another (a server)
// expunges a message and reclaims its body after Check's snapshot began:
// the vanished body is not reported as a problem, in files or inline.
func TestCheckBesideServer(t *testing.T) {
	for name, size := range reclaimSizes {
		t.Run(name, func(t *testing.T) {
			srv, a := newAccountWith(t, Options{InlineBodyMax: 1000})
			inbox := mustMailbox(t, a, "INBOX")
			var msgs []store.NewMessage
			for i := range 3 {
				msgs = append(msgs, store.NewMessage{Body: bytes.NewReader(messageOfSize(i, size))})
			}
			if _, err := a.Append(ctx, inbox.ID, msgs); err != nil {
				t.Fatal(err)
			}
			checker := openStore(t, filepath.Dir(filepath.Dir(a.u.dir)), Options{InlineBodyMax: 1000})
			fired := false
			beforeVerify = func(string) {
				if fired {
					return
				}
				fired = true
				if _, err := a.Expunge(ctx, inbox.ID, store.UIDSetOf(2)); err != nil {
					t.Error(err)
				}
				if st, err := srv.Reclaim(ctx, "alice", -1); err != nil || st.Bodies != 1 {
					t.Errorf("reclaim = %+v, %v", st, err)
				}
			}
			defer func() { beforeVerify = nil }()
			ps, err := checker.Check(ctx, "alice")
			if err != nil || len(ps) != 0 || !fired {
				t.Fatalf("Check = %v, %v (fired %v)", ps, err, fired)
			}
		})
	}
}

// TestReclaimYoungFileLater: a file too young at the first pass is removed
// by a later one even if no commit comes to wake reclamation.
func TestReclaimYoungFileLater(t *testing.T) {
	_, a := newAccountWith(t, Options{InlineBodyMax: 1000, ReclaimEvery: time.Millisecond, ReclaimMinAge: 200 * time.Millisecond})
	inbox := mustMailbox(t, a, "INBOX")
	res, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: bytes.NewReader(messageOfSize(1, 3000))}})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	a.Messages(ctx, inbox.ID, store.UIDSetOf(res.UIDs[0]), func(m *store.MessageData) error { id = m.BlobID; return nil })
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSetOf(res.UIDs[0])); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute) // only catches a hang
	for hasBlobFile(a, id) {
		if time.Now().After(deadline) {
			t.Fatal("the file of the expunged message is still there")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
