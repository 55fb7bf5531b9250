package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Large bodies travel in chunks. A body the receiver lacks that is larger
// than chunkSize is not fetched whole into a batch: the engine reads it
// from the sender a chunk at a time (BodyChunk) and hands each chunk to
// the receiver (StageBody), which appends it to a staging file; the
// append then names the staged body (Append.Staged) instead of carrying
// it. So a message of any size crosses in bounded memory on the sender,
// in the engine and on the receiver (one chunk per call, plus what the
// store's own append holds). The receiver's store checks the bytes
// against the content hash (store.ReplicaMessage.ContentHash) as it
// writes them, so a peer cannot make it store other bytes under a hash.

// chunkSize is the largest body sent whole in a batch, and the size of
// the chunks larger ones travel in.
const chunkSize = 1 << 20

// stagedBodies are the bodies staged for a user's next Apply: unlinked
// temporary files, so that nothing is left behind by a crash.
type stagedBodies struct {
	mu    sync.Mutex
	dir   string
	files map[string]*os.File // by stage name; guarded by mu
}

// add appends data to the staged body name at offset, which must be the
// staged size so far (0 starts a new one).
func (s *stagedBodies) add(name string, offset int64, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[name]
	if offset == 0 {
		if f != nil {
			f.Close()
		}
		var err error
		if f, err = os.CreateTemp(s.dir, "replica-body-*"); err != nil {
			return fmt.Errorf("replication: stage body: %w", err)
		}
		os.Remove(f.Name())
		if s.files == nil {
			s.files = make(map[string]*os.File)
		}
		s.files[name] = f
	} else if f == nil {
		return fmt.Errorf("replication: body %s was not staged", name)
	}
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("replication: stage body: %w", err)
	}
	if end != offset {
		return fmt.Errorf("replication: body %s staged up to %d, chunk at %d", name, end, offset)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("replication: stage body: %w", err)
	}
	return nil
}

// take removes a staged body, rewound for reading; the caller closes it.
func (s *stagedBodies) take(name string) (*os.File, error) {
	s.mu.Lock()
	f := s.files[name]
	delete(s.files, name)
	s.mu.Unlock()
	if f == nil {
		return nil, fmt.Errorf("replication: body %s was not staged", name)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (s *stagedBodies) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.files {
		f.Close()
	}
	s.files = nil
}

// BodyChunk returns up to n bytes of a content from offset; fewer at its
// end.
func (u *localUser) BodyChunk(ctx context.Context, blobID string, offset int64, n int) ([]byte, error) {
	b, err := u.a.OpenBlob(ctx, blobID)
	if err != nil {
		return nil, fmt.Errorf("body %s: %w", blobID, err)
	}
	defer b.Close()
	buf := make([]byte, min(int64(n), max(0, b.Size()-offset)))
	k, err := b.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("body %s: %w", blobID, err)
	}
	return buf[:k], nil
}

// StageBody appends a chunk to a body staged for the next Apply.
func (u *localUser) StageBody(ctx context.Context, name string, offset int64, data []byte) error {
	return u.staged.add(name, offset, data)
}

// streamBody copies the content blobID from side from to the staged body
// name on side to, a chunk at a time, and returns its size.
func streamBody(ctx context.Context, from, to User, blobID, name string) (int64, error) {
	var off int64
	for {
		data, err := from.BodyChunk(ctx, blobID, off, chunkSize)
		if err != nil {
			return off, err
		}
		if len(data) == 0 && off > 0 {
			return off, nil
		}
		if err := to.StageBody(ctx, name, off, data); err != nil {
			return off, err
		}
		off += int64(len(data))
		if len(data) < chunkSize {
			return off, nil
		}
	}
}

// BodyChunk is User.BodyChunk.
func (v *Service) BodyChunk(a Args, r *[]byte) (err error) {
	u, err := v.user(a.User, false)
	if err == nil && len(a.Blobs) == 1 {
		*r, err = u.BodyChunk(context.Background(), a.Blobs[0], a.Offset, a.N)
	} else if err == nil {
		err = errors.New("replication: one body per chunk")
	}
	return err
}

// StageBody is User.StageBody.
func (v *Service) StageBody(a Args, _ *struct{}) (err error) {
	u, err := v.user(a.User, false)
	if err == nil {
		err = u.StageBody(context.Background(), a.Stage, a.Offset, a.Data)
	}
	return err
}

func (u *remoteUser) BodyChunk(ctx context.Context, blobID string, offset int64, n int) ([]byte, error) {
	var r []byte
	return r, u.c.call(ctx, "BodyChunk", Args{User: u.user, Blobs: []string{blobID}, Offset: offset, N: n}, &r)
}

func (u *remoteUser) StageBody(ctx context.Context, name string, offset int64, data []byte) error {
	return u.c.call(ctx, "StageBody", Args{User: u.user, Stage: name, Offset: offset, Data: data}, &struct{}{})
}
