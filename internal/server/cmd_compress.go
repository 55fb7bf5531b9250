package server

import (
	"bufio"
	"bytes"
	"compress/flate"
	"strings"
	"sync"

	"github.com/tidemark-mail/tidemark/internal/wire"
)

// COMPRESS DEFLATE (RFC 4978): after the tagged OK, everything the server
// sends is raw DEFLATE (RFC 1951, no zlib header) and so is everything the
// client sends. The compressor sits between the session's buffered writer
// and the connection (which is TLS when TLS is on, so data is compressed
// before it is encrypted, RFC 4978 3), and every flush of a response — at
// the end of each command, at each IDLE update, before a continuation
// request — is a DEFLATE sync flush, so the client can decode it at once.
// Writes keep their deadline (deadlineWriter is under the compressor).
//
// A compressor costs about 0.8 MiB of memory for the connection's life
// (compress/flate's tables and window), so the connections that may
// compress at once are capped (Config.MaxCompressed); past the cap
// COMPRESS is refused with NO [LIMIT] and the connection goes on
// uncompressed.
func init() {
	register(&Command{Name: "COMPRESS", States: authenticated, Run: runCompress})
	addCapability("COMPRESS=DEFLATE", func(s *Session) bool { return afterAuth(s) && s.srv.cfg.MaxCompressed > 0 })
}

// deflateLevel trades CPU for bandwidth; docs/benchmarks.md has the
// figures behind the choice.
const deflateLevel = flate.DefaultCompression

// compressSlots counts the connections compressing now, against
// Config.MaxCompressed.
type compressSlots struct {
	mu   sync.Mutex
	used int // guarded by mu
}

func (c *compressSlots) acquire(max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.used >= max {
		return false
	}
	c.used++
	return true
}

func (c *compressSlots) release() {
	c.mu.Lock()
	c.used--
	c.mu.Unlock()
}

func runCompress(s *Session, c *Cmd) error {
	d := c.Dec
	var alg string
	err := d.SP()
	if err == nil {
		alg, err = d.Atom()
	}
	if err == nil {
		err = c.End()
	}
	if err != nil {
		return err
	}
	if !strings.EqualFold(alg, "DEFLATE") {
		return Bad("CLIENTBUG", "Unknown compression mechanism "+clip(alg))
	}
	if s.deflate != nil {
		// RFC 4978 3: the same mechanism is active already.
		return No("COMPRESSIONACTIVE", "DEFLATE active via COMPRESS")
	}
	if s.srv.cfg.MaxCompressed < 0 {
		return Bad("CLIENTBUG", "COMPRESS is not offered")
	}
	if !s.srv.compress.acquire(s.srv.cfg.MaxCompressed) {
		return No("LIMIT", "Too many compressed connections; continuing uncompressed")
	}
	fw, err := flate.NewWriter(s.netWriter(s.conn()), deflateLevel)
	if err != nil {
		s.srv.compress.release()
		return err
	}
	// The tagged OK is the last uncompressed response (RFC 4978 3).
	c.answered = true
	s.enc.Raw(c.Tag).Raw(" OK DEFLATE active").CRLF()
	if err := s.enc.Flush(); err != nil {
		s.srv.compress.release()
		return err
	}
	// The plain reader stays under the decompressor, which reads it byte
	// by byte (it is an io.ByteReader) and so never takes more than the
	// compressed stream: bytes the client sent early, before seeing the
	// OK, are already in it and are inflated first; and when compression
	// ends (UNAUTHENTICATE) what follows the stream is still there.
	s.deflate = &deflateLayer{plain: s.br, w: fw}
	s.releaseCompress = s.srv.compress.release
	s.br = bufio.NewReaderSize(flate.NewReader(s.br), 16<<10)
	s.bw = bufio.NewWriterSize(fw, 16<<10)
	s.dec = wire.NewDecoder(s.br, s.srv.cfg.Limits)
	s.dec.OnSyncLiteral = s.syncLiteral
	utf8 := s.enc.UTF8
	s.enc = wire.NewFlushingEncoder(s.bw, fw.Flush)
	s.enc.UTF8 = utf8
	return nil
}

// deflateLayer is what a compressing session keeps to end compression.
type deflateLayer struct {
	plain *bufio.Reader // the connection's reader under the decompressor
	w     *flate.Writer
}

// endCompression ends COMPRESS after the response that ends it has been
// flushed (RFC 8437 4.1): the server's stream is closed with a final
// block, and the session reads and writes plain again, from where the
// client's stream ended.
func (s *Session) endCompression() error {
	z := s.deflate
	if z == nil {
		return nil
	}
	s.deflate = nil
	if s.releaseCompress != nil {
		s.releaseCompress()
		s.releaseCompress = nil
	}
	err := z.w.Close()
	s.br = bufio.NewReaderSize(&deflateTail{plain: z.plain}, 16<<10)
	s.bw = bufio.NewWriterSize(s.netWriter(s.conn()), 16<<10)
	s.dec = wire.NewDecoder(s.br, s.srv.cfg.Limits)
	s.dec.OnSyncLiteral = s.syncLiteral
	s.enc = wire.NewEncoder(s.bw)
	return err
}

// deflateTail is what the session reads once the client's compression
// ended: the plain reader, minus what is left of the client's DEFLATE
// stream after the last command it carried. The decompressor hands out a
// command as soon as the block that holds it ends, so the marker of the
// sync flush that follows (an empty stored block: [00] 00 00 FF FF) is
// still unread, and a client may add an empty final block (03 00, or 01
// 00 00 FF FF) to close its stream. A command starts with a tag, which is
// printable, so these bytes cannot be mistaken for one.
type deflateTail struct {
	plain *bufio.Reader
	done  bool
}

var deflateResidues = [][]byte{
	{0, 0, 0, 0xff, 0xff}, // sync flush, the block header in a byte of its own
	{0, 0, 0xff, 0xff},    // sync flush, the header bits already read
	{3, 0},                // empty final block, fixed Huffman (zlib's Z_FINISH)
	{1, 0, 0, 0xff, 0xff}, // empty final stored block (Go's Close)
}

func (t *deflateTail) Read(p []byte) (int, error) {
	for !t.done {
		b, err := t.plain.Peek(1)
		if err != nil {
			return 0, err
		}
		if b[0] >= 0x20 {
			break
		}
		matched := false
		for _, r := range deflateResidues {
			if q, err := t.plain.Peek(len(r)); err == nil && bytes.Equal(q, r) {
				t.plain.Discard(len(r))
				matched = true
				break
			} else if err != nil && len(q) < len(r) && bytes.HasPrefix(r, q) {
				return 0, err
			}
		}
		if !matched {
			break // not ours: the decoder answers it BAD
		}
	}
	t.done = true
	return t.plain.Read(p)
}
