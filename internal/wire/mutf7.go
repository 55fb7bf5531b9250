package wire

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 (RFC 3501 5.1.3) is how IMAP4rev1 clients spell
// non-ASCII mailbox names: printable ASCII stands for itself except "&",
// which is written "&-"; other characters are UTF-16 encoded in modified
// base64 (',' instead of '/', no padding) between "&" and "-".

var mutf7Encoding = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// ErrBadMUTF7 is returned for a name that is not valid modified UTF-7.
var ErrBadMUTF7 = errors.New("wire: invalid modified UTF-7 mailbox name")

// EncodeMUTF7 converts a UTF-8 mailbox name to modified UTF-7.
func EncodeMUTF7(s string) string { return EncodeMUTF7Escaping(s, "") }

// EncodeMUTF7Escaping is EncodeMUTF7 that also base64-encodes the printable
// ASCII characters in also. Maildir++ folder names on disk use it for '.',
// their hierarchy separator; decode them with DecodeMUTF7Lenient.
func EncodeMUTF7Escaping(s, also string) string {
	var b strings.Builder
	var run []rune // pending non-ASCII characters
	flush := func() {
		if len(run) == 0 {
			return
		}
		u := utf16.Encode(run)
		raw := make([]byte, 2*len(u))
		for i, c := range u {
			raw[2*i], raw[2*i+1] = byte(c>>8), byte(c)
		}
		b.WriteByte('&')
		b.WriteString(mutf7Encoding.EncodeToString(raw))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		switch {
		case r == '&':
			flush()
			b.WriteString("&-")
		case r >= 0x20 && r <= 0x7e && !strings.ContainsRune(also, r):
			flush()
			b.WriteRune(r)
		default:
			run = append(run, r)
		}
	}
	flush()
	return b.String()
}

// DecodeMUTF7 converts a modified UTF-7 mailbox name to UTF-8. It rejects
// what RFC 3501 5.1.3 forbids: raw 8-bit bytes, unterminated or empty
// shifts that are not "&-", ASCII encoded in base64, and bad UTF-16.
func DecodeMUTF7(s string) (string, error) { return decodeMUTF7(s, true) }

// DecodeMUTF7Lenient is DecodeMUTF7 that accepts printable ASCII inside
// base64 shifts, as EncodeMUTF7Escaping writes it.
func DecodeMUTF7Lenient(s string) (string, error) { return decodeMUTF7(s, false) }

func decodeMUTF7(s string, strict bool) (string, error) {
	if !strings.ContainsRune(s, '&') {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				return "", ErrBadMUTF7
			}
		}
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", ErrBadMUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", ErrBadMUTF7
		}
		enc := s[i+1 : i+1+end]
		i += end + 1
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := mutf7Encoding.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 {
			return "", ErrBadMUTF7
		}
		u := make([]uint16, len(raw)/2)
		for j := range u {
			u[j] = uint16(raw[2*j])<<8 | uint16(raw[2*j+1])
		}
		for _, r := range utf16.Decode(u) {
			if r == utf8.RuneError || r < 0x20 || r == 0x7f || (strict && r <= 0x7e) {
				return "", ErrBadMUTF7
			}
			b.WriteRune(r)
		}
		// Two adjacent shifts are forbidden: they must be one.
		if i+1 < len(s) && s[i+1] == '&' && i+2 < len(s) && s[i+2] != '-' {
			return "", ErrBadMUTF7
		}
	}
	return b.String(), nil
}
