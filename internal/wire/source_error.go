package wire

import (
	"fmt"
	"io"
)

// SourceError is the Encoder's error when the content of a literal could
// not be read (a message file gone or cut short under the server): the
// literal's size was already announced, so the connection cannot go on.
// It tells that apart from the client going away, which is no fault of
// the server's and needs no operator's attention.
type SourceError struct {
	Short int64 // bytes of the literal not sent
	Err   error // the read error; io.ErrUnexpectedEOF for content too short
}

func (e *SourceError) Error() string {
	return fmt.Sprintf("wire: literal content unreadable, %d bytes short: %v", e.Short, e.Err)
}

func (e *SourceError) Unwrap() error { return e.Err }

// sourceReader remembers the error its reader returned, so a failed copy
// can say which side failed.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil {
		s.err = err
	}
	return n, err
}
