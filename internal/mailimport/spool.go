package mailimport

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/tidemark-mail/tidemark/internal/message"
	"hash"
	"io"
	"os"
)

// spoolMemLimit is how much of one message a spool keeps in memory before it
// moves the message to a temporary file.
const spoolMemLimit = 4 << 20

// spool holds one message's bytes while it waits to be appended: in memory
// when small, in an unlinked-on-close temporary file when large. It hashes
// what is written so the BlobID the store will give it is known in advance.
type spool struct {
	dir  string // where temporary files go; "" means os.TempDir
	buf  bytes.Buffer
	file *os.File
	size int64
	sum  hash.Hash
	crlf *message.CRLFWriter
}

func newSpool(dir string) *spool {
	return &spool{dir: dir, sum: sha256.New()}
}

// Write stores p with bare LF line endings turned into CRLF, the form
// messages are stored and served in; Size and BlobID describe the
// converted bytes.
func (s *spool) Write(p []byte) (int, error) {
	if s.crlf == nil {
		s.crlf = &message.CRLFWriter{W: writerFunc(s.write)}
	}
	return s.crlf.Write(p)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (s *spool) write(p []byte) (int, error) {
	s.sum.Write(p)
	s.size += int64(len(p))
	if s.file == nil && s.buf.Len()+len(p) > spoolMemLimit {
		f, err := os.CreateTemp(s.dir, "tidemark-spool-*")
		if err != nil {
			return 0, fmt.Errorf("spool: %w", err)
		}
		s.file = f
		if _, err := f.Write(s.buf.Bytes()); err != nil {
			return 0, fmt.Errorf("spool: %w", err)
		}
		s.buf = bytes.Buffer{}
	}
	if s.file != nil {
		if _, err := s.file.Write(p); err != nil {
			return 0, fmt.Errorf("spool: %w", err)
		}
		return len(p), nil
	}
	return s.buf.Write(p)
}

// BlobID is the hex SHA-256 of everything written.
func (s *spool) BlobID() string { return hex.EncodeToString(s.sum.Sum(nil)) }

// Size is the number of bytes written.
func (s *spool) Size() int64 { return s.size }

// Reader returns a fresh reader over the whole content; it can be called
// again (a failed batch is retried message by message).
func (s *spool) Reader() io.Reader {
	if s.file != nil {
		return io.NewSectionReader(s.file, 0, s.size)
	}
	return bytes.NewReader(s.buf.Bytes())
}

// Close releases the temporary file, if any.
func (s *spool) Close() error {
	if s.file == nil {
		return nil
	}
	name := s.file.Name()
	err := s.file.Close()
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	s.file = nil
	return err
}
