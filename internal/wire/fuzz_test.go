package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzDecodeCommand feeds arbitrary bytes to the command reader and the
// error recovery. Whatever the input, decoding must end without panicking,
// must stop at the end of the input, and every error the decoder produces
// for a client mistake must be an *Error.
func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{
		"a1 LOGIN joe secret\r\n",
		"a2 SELECT \"INBOX\"\r\n",
		"a3 FETCH 1:*,5 (FLAGS BODY.PEEK[HEADER.FIELDS (From To)])\r\n",
		"a4 APPEND INBOX (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {5+}\r\nhello\r\n",
		"a5 APPEND INBOX ~{3}\r\nabc\r\n",
		"a6 STORE $ +FLAGS.SILENT (\\Deleted kw)\r\n",
		"a7 X ((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))\r\n",
		"a8 LOGIN {99999999999+}\r\n",
		"a9 X \"unterminated\r\nb NOOP\r\n",
		"* NOOP\r\n+\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		lim := Limits{MaxLine: 200, MaxLiteral: 100, MaxAppendLiteral: 300, MaxLiterals: 4, MaxDepth: 8, MaxDiscard: 500}
		src := bytes.NewReader(in)
		br := bufio.NewReader(src)
		d := NewDecoder(br, lim)
		d.OnSyncLiteral = func(int64) error { return nil }
		for i := 0; i <= len(in); i++ {
			err := readCommand(d)
			if err == nil {
				continue
			}
			var we *Error
			if !errors.As(err, &we) {
				// Not a client mistake, so it must be the end of the
				// input, and all of it must have been read.
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("%q: error %v (%T) is neither an *Error nor the end of input", in, err, err)
				}
				if src.Len() != 0 || br.Buffered() != 0 {
					t.Fatalf("%q: %v with %d bytes still unread", in, err, src.Len()+br.Buffered())
				}
				return
			}
			if we.Close {
				return
			}
			if err := d.Discard(); err != nil {
				return
			}
		}
		t.Fatalf("decoder made no progress over %d bytes", len(in))
	})
}
