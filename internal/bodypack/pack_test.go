package bodypack

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// dictSHA256 pins the dictionary: bodies stored with it can only be read
// with these exact bytes.
const dictSHA256 = "c14547046721653a2133cb6689d62575a966a8cf0931cef2dd22876e0c3617f7"

func TestDictPinned(t *testing.T) {
	sum := sha256.Sum256(dict)
	if got := hex.EncodeToString(sum[:]); got != dictSHA256 {
		t.Fatalf("the body dictionary changed (sha256 %s): stored bodies name it by ID %#x; give a new dictionary a new ID", got, DictID)
	}
}

// TestPackForms: text is compressed with the dictionary, a short or
// incompressible body stays as it is, a body beginning with the magic is
// always compressed, and each opens to its bytes.
func TestPackForms(t *testing.T) {
	text := []byte("From: a@example.org\r\nSubject: hello\r\n\r\n" + strings.Repeat("the same line again\r\n", 40))
	random := make([]byte, 1000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	magic := append(bytes.Clone(Magic), "not a frame"...)
	for name, tc := range map[string]struct {
		data  []byte
		frame bool
	}{"text": {text, true}, "short": {[]byte("Subject: x\r\n\r\nhi\r\n"), false}, "incompressible": {random, false}, "magic": {magic, true}} {
		p := Pack(tc.data)
		if IsFrame(p) != tc.frame {
			t.Fatalf("%s: packed as a frame %v, want %v", name, IsFrame(p), tc.frame)
		}
		if tc.frame {
			var h zstd.Header
			if err := h.Decode(p); err != nil || h.DictionaryID != DictID {
				t.Fatalf("%s: frame header %+v, %v: want dictionary %#x", name, h, err, DictID)
			}
		}
		b, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, b.Len())
		b.Read(got)
		if !bytes.Equal(got, tc.data) || !bytes.Equal(b.Packed(), p) {
			t.Fatalf("%s: opened to %q", name, got)
		}
	}
}

// TestOpenRefuses: a damaged frame and a frame naming another dictionary
// do not open.
func TestOpenRefuses(t *testing.T) {
	data := []byte(strings.Repeat("Subject: a line that compresses\r\n", 30))
	p := Pack(data)
	damaged := bytes.Clone(p)
	damaged[len(damaged)/2] ^= 0xff
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderDictRaw(DictID+1, dict))
	if err != nil {
		t.Fatal(err)
	}
	other := enc.EncodeAll(data, nil)
	for name, b := range map[string][]byte{"damaged": damaged, "other dictionary": other, "truncated": p[:len(p)-3]} {
		if got, err := Open(b); err == nil {
			all := make([]byte, got.Len())
			got.Read(all)
			// Frames carry a checksum of their content: damage that
			// still decodes decodes to the same bytes or fails.
			if !bytes.Equal(all, data) || name != "damaged" {
				t.Fatalf("%s: opened without error", name)
			}
		}
	}
}
