package message

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestCRLF(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"mixed\r\nand\nbare\rcr\n", "mixed\r\nand\r\nbare\rcr\r\n"},
		{"\n\n", "\r\n\r\n"},
	}
	for _, c := range cases {
		// One byte per write: state must carry across writes.
		var out bytes.Buffer
		w := &CRLFWriter{W: &out}
		for i := 0; i < len(c.in); i++ {
			if _, err := w.Write([]byte{c.in[i]}); err != nil {
				t.Fatal(err)
			}
		}
		if out.String() != c.want {
			t.Errorf("writer(%q) = %q, want %q", c.in, out.String(), c.want)
		}
		got, err := io.ReadAll(CRLFReader(strings.NewReader(c.in)))
		if err != nil || string(got) != c.want {
			t.Errorf("reader(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}
