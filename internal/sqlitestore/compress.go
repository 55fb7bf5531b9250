package sqlitestore

import (
	"bytes"
	"fmt"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// Bodies stored in the database (the bodies table) are zstd-compressed
// when that saves at least an eighth of their size: text mail typically
// shrinks to a third or less. Since schema version 14 the frame refers to
// a dictionary of mail vocabulary (bodydict.go), which saves a small
// message about an eighth more; frames written before carry no dictionary
// ID and decode as they did. Such a body is one zstd frame, which begins
// with the frame magic number; a body stored as it is never does, because
// a body that happens to begin with it is always stored compressed. So no
// column says which is which, a database written before is read as it is,
// and every reader goes through scanInline, which decompresses. A partial
// FETCH of an inline body decompresses the whole of it (at most
// Options.InlineBodyMax, 64 KiB by default): microseconds. Blob files
// (larger bodies) are stored as they are, so a partial FETCH reads only
// the bytes it needs.

// The marshalled structure of a message (contents.structure) is stored the
// same way, through packBody and unpackBody: its stored form begins with a
// version byte or '{', never with the zstd magic.

// zstdMagic starts every zstd frame (RFC 8878 3.1.1).
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// minCompress is the smallest body worth compressing: below it the
// frame's overhead eats most of the gain.
const minCompress = 256

// maxUnpacked bounds what one stored body may decompress to: far above
// any inline body, it only stops a damaged frame from asking for
// gigabytes.
const maxUnpacked = 256 << 20

var (
	// One encoder per core: the bodies of a batch are compressed in
	// parallel (the prepare workers, prepareFrom), and EncodeAll waits for a free one. The
	// fastest level: with the dictionary it compresses bench.mbox's
	// messages to 12 % less than the default level without, for about
	// the default level's CPU (the default level with the dictionary
	// costs four times as much per message, resetting larger tables).
	bodyEncoder = must(zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithZeroFrames(true), zstd.WithEncoderDictRaw(bodyDictID, bodyDict)))
	bodyDecoder = must(zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxUnpacked),
		zstd.WithDecoderDictRaw(bodyDictID, bodyDict)))
)

// packBody returns what to store for a body: compressed when that pays
// (or when the body begins with the zstd magic, see above), else the body.
func packBody(data []byte) []byte {
	magic := bytes.HasPrefix(data, zstdMagic)
	if len(data) < minCompress && !magic {
		return data
	}
	c := bodyEncoder.EncodeAll(data, make([]byte, 0, len(data)/2))
	if magic || len(c) <= len(data)-len(data)/8 {
		return c
	}
	return data
}

// unpackBody returns a stored body's bytes.
func unpackBody(stored []byte) ([]byte, error) {
	if !bytes.HasPrefix(stored, zstdMagic) {
		return stored, nil
	}
	data, err := bodyDecoder.DecodeAll(stored, nil)
	if err != nil {
		return nil, fmt.Errorf("decompress body: %w", err)
	}
	return data, nil
}

// appendUnpacked appends a stored body's bytes to dst, decompressing
// through *scratch (kept for the next call): zstd's DecodeAll would
// otherwise reallocate a dst without room for the whole frame.
func appendUnpacked(dst []byte, scratch *[]byte, stored []byte) ([]byte, error) {
	if !bytes.HasPrefix(stored, zstdMagic) {
		return append(dst, stored...), nil
	}
	out, err := bodyDecoder.DecodeAll(stored, (*scratch)[:0])
	if err != nil {
		return dst, fmt.Errorf("decompress body: %w", err)
	}
	*scratch = out
	return append(dst, out...), nil
}

// must panics on an error from setting up a codec at package load: the
// options are constants, so it can only mean a programming error.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
