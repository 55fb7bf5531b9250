package derived

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"testing"
)

const body = "From: a@example.org\r\nSubject: hello\r\nMessage-ID: <1@x>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi there\r\n--b--\r\n"

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// resealed is p with byte i set to v and its sum made right again: a
// payload whole in transit but of another layout or version.
func resealed(p []byte, i int, v byte) []byte {
	q := bytes.Clone(p[:len(p)-sumLen])
	q[i] = v
	return withSum(q)
}

func withSum(q []byte) []byte {
	sum := sha256.Sum256(q)
	return append(q, sum[:]...)
}

// TestOpenOwnPayloadOnly: a payload opens, giving what Parse gave, only
// for the content hash and size it was sealed for, in this version's
// formats, whole; anything else is refused, so the caller parses.
func TestOpenOwnPayloadOnly(t *testing.T) {
	d, _, err := Parse(bytes.NewReader([]byte(body)), true)
	if err != nil {
		t.Fatal(err)
	}
	h, size := hashOf(body), int64(len(body))
	p := Seal(h, d)
	got, st, ok := Open(p, h, size)
	if !ok || !reflect.DeepEqual(got, d) || st.Envelope.Subject != "hello" {
		t.Fatalf("own payload: %v %+v", ok, got)
	}
	refused := map[string]struct {
		p    []byte
		hash string
		size int64
	}{
		"another hash":           {p, hashOf(body + " "), size},
		"another size":           {p, h, size + 1},
		"damaged":                {append(bytes.Clone(p[:40]), append([]byte{p[40] ^ 1}, p[41:]...)...), h, size},
		"cut":                    {p[:len(p)-1], h, size},
		"empty":                  {nil, h, size},
		"another layout":         {resealed(p, 0, Format+1), h, size},
		"another structure form": {resealed(p, 1, p[1]+1), h, size},
		"another keys form":      {resealed(p, 2, p[2]+1), h, size},
		"trailing bytes":         {withSum(append(bytes.Clone(p[:len(p)-sumLen]), 0)), h, size},
	}
	for name, c := range refused {
		if _, _, ok := Open(c.p, c.hash, c.size); ok {
			t.Errorf("%s: opened", name)
		}
	}
	// From falls back to parsing for them, and gives the same data.
	for name, c := range refused {
		if c.hash != h || c.size != size {
			continue
		}
		got, _, used, err := From(c.p, h, size, bytes.NewReader([]byte(body)), true)
		if err != nil || used || !reflect.DeepEqual(got, d) {
			t.Errorf("%s: From gave %v, used %v, %+v", name, err, used, got)
		}
	}
	if Seal("xyz", d) != nil || Seal(h, Data{Structure: []byte{1}, SortKeys: d.SortKeys}) != nil {
		t.Error("sealed data not in this version's formats")
	}
}
