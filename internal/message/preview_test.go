package message

import (
	"strings"
	"testing"
)

func TestPreview(t *testing.T) {
	long := strings.Repeat("word ", 100)
	for _, c := range []struct{ name, raw, want string }{
		{"plain", "Subject: x\r\n\r\nHello,\r\n\r\n  this is\tthe body.\r\n", "Hello, this is the body."},
		{"empty", "Subject: x\r\n\r\n", ""},
		{"quoted-printable latin-1", "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCr=E8me br=FBl=E9e=\r\n, s'il vous pla=EEt\r\n", "Crème brûlée, s'il vous plaît"},
		{"clipped to 200 characters", "\r\n" + long, strings.TrimSpace(long[:200])},
		{"characters, not bytes", "Content-Type: text/plain; charset=utf-8\r\n\r\n" + strings.Repeat("é", 300), strings.Repeat("é", 200)},
		{"html", "Content-Type: text/html\r\n\r\n<html><head><title>T</title><style>p{color:red}</style></head>" +
			"<body><p>Hello&nbsp;<b>world</b> &amp; all</p><!-- hidden --><script>var x = '<p>';</script><p>Bye</p></body></html>", "Hello world & all Bye"},
		{"alternative prefers plain", "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nplain text\r\n--b--\r\n", "plain text"},
		{"mixed: first text, base64", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: image/png\r\n\r\nPNG\r\n" +
			"--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVyZSBpcyB0aGUgc2VjcmV0IHdvcmQ6IMOpbMOpcGhhbnQK\r\n--b--\r\n", "Here is the secret word: éléphant"},
		{"attachment only", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\nfile\r\n--b--\r\n", ""},
		{"image only", "Content-Type: image/png\r\n\r\nxx\r\n", ""},
	} {
		st, err := Parse(strings.NewReader(c.raw))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Preview(st, strings.NewReader(c.raw))
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
