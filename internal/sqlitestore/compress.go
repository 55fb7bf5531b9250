package sqlitestore

import "github.com/tidemark-mail/tidemark/internal/bodypack"

// Bodies stored in the database (the bodies table) are in packed form
// (package bodypack): zstd-compressed when that saves at least an eighth
// of their size (text mail typically shrinks to a third or less), else as
// they are. Since schema version 14 the frame refers to a dictionary of
// mail vocabulary (bodypack/dict.go), which saves a small message about an
// eighth more; frames written before carry no dictionary ID and decode as
// they did. No column says which form a body is in, a database written
// before is read as it is, and every reader goes through scanInline,
// which decompresses. A partial FETCH of an inline body decompresses the
// whole of it (at most Options.InlineBodyMax, 64 KiB by default):
// microseconds. Blob files (larger bodies) are stored as they are, so a
// partial FETCH reads only the bytes it needs. A replica hands out and
// takes bodies in the same form (Replica.PackedBodies, Replica.Apply), so
// a body goes from one embedded store to another compressed as it is.

// The marshalled structure of a message (contents.structure) is stored the
// same way, through packBody and unpackBody: its stored form begins with a
// version byte or '{', never with the zstd magic.

// zstdMagic starts every zstd frame (RFC 8878 3.1.1).
var zstdMagic = bodypack.Magic

// packBody returns what to store for a body (bodypack.Pack).
func packBody(data []byte) []byte { return bodypack.Pack(data) }

// unpackBody returns a stored body's bytes.
func unpackBody(stored []byte) ([]byte, error) { return bodypack.Unpack(stored) }

// appendUnpacked appends a stored body's bytes to dst, decompressing
// through *scratch (kept for the next call).
func appendUnpacked(dst []byte, scratch *[]byte, stored []byte) ([]byte, error) {
	return bodypack.AppendUnpacked(dst, scratch, stored)
}
