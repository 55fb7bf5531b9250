package sqlitestore

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
// same way, through bodypack.Pack and bodypack.Unpack: its stored form
// begins with a version byte or '{', never with the zstd magic.
