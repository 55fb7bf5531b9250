// Package bodypack is the packed form of a message body: how the embedded
// store keeps bodies in its database and how replicas send them to each
// other, so that a body crosses from one embedded store to another
// without being decompressed and compressed again.
//
// A packed body is either one zstd frame (RFC 8878) of the bytes, or the
// bytes as they are. A frame names this package's dictionary (DictID,
// dict.go) or none (bodies compressed before the dictionary existed); any
// other is refused. The bytes are stored as they are only when they do
// not begin with the zstd magic number: a body that happens to begin with
// it is always compressed. So no flag says which form a packed body is
// in, and Unpack tells them apart by their first four bytes.
package bodypack

import (
	"bytes"
	"fmt"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// Magic starts every zstd frame (RFC 8878 3.1.1).
var Magic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// minCompress is the smallest body worth compressing: below it the
// frame's overhead eats most of the gain.
const minCompress = 256

// MaxUnpacked bounds what one packed body may decompress to: far above
// any body kept in a database or sent whole, it only stops a damaged or
// hostile frame from asking for gigabytes.
const MaxUnpacked = 256 << 20

var (
	// One encoder per core: the bodies of a batch are compressed in
	// parallel, and EncodeAll waits for a free one. The fastest level:
	// with the dictionary it compresses bench.mbox's messages to 12 %
	// less than the default level without, for about the default level's
	// CPU (the default level with the dictionary costs four times as
	// much per message, resetting larger tables).
	encoder = must(zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithZeroFrames(true), zstd.WithEncoderDictRaw(DictID, dict)))
	decoder = must(zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(MaxUnpacked),
		zstd.WithDecoderDictRaw(DictID, dict)))
)

// IsFrame reports whether a packed body is compressed.
func IsFrame(packed []byte) bool { return bytes.HasPrefix(packed, Magic) }

// Pack returns the packed form of data: compressed when that saves at
// least an eighth of its size (or when data begins with the magic),
// else data itself.
func Pack(data []byte) []byte {
	magic := IsFrame(data)
	if len(data) < minCompress && !magic {
		return data
	}
	c := Compress(data)
	if magic || len(c) <= len(data)-len(data)/8 {
		return c
	}
	return data
}

// Raw returns data in packed form without compressing it, unless it
// must be: data itself, or a frame when data begins with the magic.
func Raw(data []byte) []byte {
	if IsFrame(data) {
		return Compress(data)
	}
	return data
}

// Compress returns data as one frame, whatever the gain.
func Compress(data []byte) []byte {
	return encoder.EncodeAll(data, make([]byte, 0, len(data)/2))
}

// Unpack returns a packed body's bytes.
func Unpack(packed []byte) ([]byte, error) {
	if !IsFrame(packed) {
		return packed, nil
	}
	data, err := decoder.DecodeAll(packed, nil)
	if err != nil {
		return nil, fmt.Errorf("decompress body: %w", err)
	}
	return data, nil
}

// AppendUnpacked appends a packed body's bytes to dst, decompressing
// through *scratch (kept for the next call): zstd's DecodeAll would
// otherwise reallocate a dst without room for the whole frame.
func AppendUnpacked(dst []byte, scratch *[]byte, packed []byte) ([]byte, error) {
	if !IsFrame(packed) {
		return append(dst, packed...), nil
	}
	out, err := decoder.DecodeAll(packed, (*scratch)[:0])
	if err != nil {
		return dst, fmt.Errorf("decompress body: %w", err)
	}
	*scratch = out
	return append(dst, out...), nil
}

// Body is a packed body opened: it reads as its bytes, and Packed returns
// the form it came in, which a store keeping bodies packed may keep as it
// is. Only Open makes one, so the two always agree.
type Body struct {
	*bytes.Reader
	packed []byte
}

// Open unpacks a packed body.
func Open(packed []byte) (*Body, error) {
	data, err := Unpack(packed)
	if err != nil {
		return nil, err
	}
	return &Body{Reader: bytes.NewReader(data), packed: packed}, nil
}

// Packed is the body's packed form.
func (b *Body) Packed() []byte { return b.packed }

// must panics on an error from setting up a codec at package load: the
// options are constants, so it can only mean a programming error.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
