// Package derived is what a store computes from a message's bytes by
// parsing them (the structure, the sort keys, the preview), in a sealed
// form that can travel with the bytes: a replica receiving a body with its
// payload does not parse the body again, provided the payload was made for
// those bytes, in this version's formats, and arrived whole. Anything else
// is not trusted, and the receiver parses, so a peer of another version,
// or a damaged payload, costs time, never a wrong answer to a FETCH or a
// SEARCH.
package derived

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/sortthread"
)

// Format is the layout of a payload. Raise it when the layout changes, or
// when what Parse computes changes without a new version of the structure
// codec (message.CodecVersion) or of the keys (sortthread.KeysVersion),
// which payloads also carry: a receiver accepts only its own three.
const Format = 1

// Data is what a store keeps of a message that depends on its bytes alone,
// besides the text index (computed from the structure and the bytes, and
// not stored in a form that could be sent).
type Data struct {
	Structure []byte // message.Structure.Marshal
	SortKeys  []byte // sortthread.EncodeKeys
	// Preview is message.Preview's text; nil when its part could not be
	// read, or in a payload whose sender keeps no preview (From then
	// computes it).
	Preview *string
}

// Body is a message's bytes as Parse reads them.
type Body interface {
	io.Reader
	io.ReaderAt
}

// Parse computes Data from the bytes of a message, the preview only
// withPreview: a store that computes previews when they are fetched keeps
// none, and a preview costs about as much as the rest of the summary.
func Parse(r Body, withPreview bool) (Data, *message.Structure, error) {
	st, err := message.Parse(r)
	var raw []byte
	if err == nil {
		raw, err = st.Marshal()
	}
	if err != nil {
		return Data{}, nil, fmt.Errorf("parse: %w", err)
	}
	if !withPreview {
		return Data{Structure: raw, SortKeys: sortthread.EncodeKeys(st)}, st, nil
	}
	keys, preview := sortthread.Summarize(st, r)
	return Data{Structure: raw, SortKeys: keys, Preview: preview}, st, nil
}

// From is Data for the bytes r of content hash (hex SHA-256) hash and
// length size: the payload's when Open accepts it, else r parsed. used
// reports which. withPreview is Parse's: a payload without a preview (its
// sender keeps none) then gets one computed from the structure and the
// bytes, as Parse would; without it, the payload's preview is dropped.
func From(payload []byte, hash string, size int64, r Body, withPreview bool) (d Data, st *message.Structure, used bool, err error) {
	if payload != nil {
		if d, st, ok := Open(payload, hash, size); ok {
			if !withPreview {
				d.Preview = nil
			} else if d.Preview == nil {
				if pv, err := message.Preview(st, r); err == nil {
					d.Preview = &pv
				}
			}
			return d, st, true, nil
		}
	}
	d, st, err = Parse(r, withPreview)
	return d, st, false, err
}

// header is the payload's fixed start: the three versions and the content
// hash; sumLen the SHA-256 that ends it, over everything before.
const (
	header = 3 + sha256.Size
	sumLen = sha256.Size
)

// InOrder lays out sealed payloads by content hash in the order of
// hashes, nil where a hash has none: the answer of store.Replica.Derived.
func InOrder(hashes []string, sealed map[string][]byte) [][]byte {
	out := make([][]byte, len(hashes))
	for i, h := range hashes {
		out[i] = sealed[h]
	}
	return out
}

// Seal returns d as a payload bound to the content hash (hex SHA-256) of
// the bytes it was derived from. It returns nil for data not in this
// version's formats (kept by an earlier version) or an invalid hash: the
// receiver then parses.
func Seal(hash string, d Data) []byte {
	raw, err := hex.DecodeString(hash)
	if err != nil || len(raw) != sha256.Size ||
		len(d.Structure) == 0 || d.Structure[0] != message.CodecVersion ||
		len(d.SortKeys) == 0 || d.SortKeys[0] != sortthread.KeysVersion {
		return nil
	}
	n := header + 3*binary.MaxVarintLen64 + 1 + len(d.Structure) + len(d.SortKeys) + sumLen
	if d.Preview != nil {
		n += len(*d.Preview)
	}
	b := make([]byte, 0, n)
	b = append(b, Format, message.CodecVersion, sortthread.KeysVersion)
	b = append(b, raw...)
	b = binary.AppendUvarint(b, uint64(len(d.Structure)))
	b = append(b, d.Structure...)
	b = binary.AppendUvarint(b, uint64(len(d.SortKeys)))
	b = append(b, d.SortKeys...)
	if d.Preview == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(*d.Preview)))
		b = append(b, *d.Preview...)
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// Open returns the data of a payload sealed (Seal) for the content hash
// hash, in this version's formats, whose structure decodes and describes a
// message of size bytes. ok is false for any other payload: the caller
// parses the bytes instead. The data refers to payload's memory.
func Open(payload []byte, hash string, size int64) (d Data, st *message.Structure, ok bool) {
	if len(payload) < header+sumLen {
		return Data{}, nil, false
	}
	body, sum := payload[:len(payload)-sumLen], payload[len(payload)-sumLen:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return Data{}, nil, false
	}
	if body[0] != Format || body[1] != message.CodecVersion || body[2] != sortthread.KeysVersion {
		return Data{}, nil, false
	}
	if raw, err := hex.DecodeString(hash); err != nil || !bytes.Equal(raw, body[3:header]) {
		return Data{}, nil, false
	}
	rest := body[header:]
	field := func() ([]byte, bool) {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return nil, false
		}
		f := rest[k : k+int(n)]
		rest = rest[k+int(n):]
		return f, true
	}
	var okS, okK bool
	d.Structure, okS = field()
	d.SortKeys, okK = field()
	if !okS || !okK || len(rest) == 0 || len(d.Structure) == 0 || len(d.SortKeys) == 0 ||
		d.Structure[0] != message.CodecVersion || d.SortKeys[0] != sortthread.KeysVersion {
		return Data{}, nil, false
	}
	hasPreview := rest[0]
	rest = rest[1:]
	switch hasPreview {
	case 0:
	case 1:
		pv, ok := field()
		if !ok {
			return Data{}, nil, false
		}
		s := string(pv)
		d.Preview = &s
	default:
		return Data{}, nil, false
	}
	if len(rest) != 0 {
		return Data{}, nil, false
	}
	st, err := message.Unmarshal(d.Structure)
	if err != nil || st.Size != size {
		return Data{}, nil, false
	}
	return d, st, true
}
