package message

import "io"

// Messages are stored with CRLF line endings, as IMAP sends them
// (RFC 5322 2.1, RFC 9051 2.2). Intake paths that read files or pipes in
// the Unix convention (mbox, Maildir, a local delivery agent's standard
// input) convert with these; IMAP APPEND and LMTP already carry CRLF and
// are stored byte for byte.

// CRLFWriter writes to W with every bare LF turned into CRLF. It keeps
// state across writes, so a CR at the end of one write and an LF at the
// start of the next stay one line ending.
type CRLFWriter struct {
	W      io.Writer
	lastCR bool
	buf    []byte
}

// Write converts p and writes it; it reports len(p) on success.
func (c *CRLFWriter) Write(p []byte) (int, error) {
	out := c.buf[:0]
	for _, b := range p {
		if b == '\n' && !c.lastCR {
			out = append(out, '\r')
		}
		out = append(out, b)
		c.lastCR = b == '\r'
	}
	c.buf = out
	if _, err := c.W.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CRLFReader returns a reader of r's bytes with every bare LF turned into
// CRLF.
func CRLFReader(r io.Reader) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		_, err := io.Copy(&CRLFWriter{W: pw}, r)
		pw.CloseWithError(err)
	}()
	return pr
}
