package wire

import "fmt"

// Response codes the decoder attaches to its errors (RFC 9051 7.1, RFC 5530).
const (
	CodeTooBig = "TOOBIG"
	CodeLimit  = "LIMIT"
)

// Error is a problem with a client's command found by the Decoder. The
// server answers it with a tagged BAD carrying Code (when not empty); when
// Close is set it sends an untagged BYE instead and closes the connection,
// because the rest of the command cannot be skipped safely.
type Error struct {
	Code  string
	Text  string
	Close bool
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("[%s] %s", e.Code, e.Text)
	}
	return e.Text
}

func syntaxErrorf(format string, args ...any) *Error {
	return &Error{Text: fmt.Sprintf(format, args...)}
}
