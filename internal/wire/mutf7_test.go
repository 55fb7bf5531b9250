package wire

import "testing"

func TestMUTF7(t *testing.T) {
	for _, tc := range []struct{ utf8, mutf7 string }{
		{"INBOX", "INBOX"},
		{"Tom & Jerry", "Tom &- Jerry"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"}, // RFC 3501 5.1.3
		{"Entwürfe", "Entw&APw-rfe"},
		{"😀", "&2D3eAA-"},
	} {
		if got := EncodeMUTF7(tc.utf8); got != tc.mutf7 {
			t.Errorf("encode %q: got %q want %q", tc.utf8, got, tc.mutf7)
		}
		if got, err := DecodeMUTF7(tc.mutf7); err != nil || got != tc.utf8 {
			t.Errorf("decode %q: got %q, %v", tc.mutf7, got, err)
		}
	}
	for _, bad := range []string{"&", "&U,BTFw", "&AGE-", "caf\xc3\xa9", "&U,BTFw-&ZeVnLIqe-", "&Jjo!"} {
		if got, err := DecodeMUTF7(bad); err == nil {
			t.Errorf("decode %q: got %q, want an error", bad, got)
		}
	}
}
