package message

import (
	"bytes"
	"strings"
)

// field is one header field as found in a header block.
type field struct {
	name []byte // as written, trailing whitespace removed; nil if none
	raw  []byte // the whole field including its line breaks
	val  []byte // the value after ':', folded, line breaks included
}

// splitFields cuts a header block into fields (RFC 5322 2.2). Lines that
// start with whitespace continue the previous field; a line that is neither
// a continuation nor has a colon is kept as a nameless field so that the
// block can be reproduced exactly. The blank line that ends the block, if
// present, is not returned.
func splitFields(out []field, h []byte) []field {
	for len(h) > 0 {
		// Find the end of this field: the first line break not followed
		// by a space or tab.
		end := 0
		for {
			i := bytes.IndexByte(h[end:], '\n')
			if i < 0 {
				end = len(h)
				break
			}
			end += i + 1
			if end >= len(h) || (h[end] != ' ' && h[end] != '\t') {
				break
			}
		}
		line := h[:end]
		h = h[end:]
		if isBlankLine(line) {
			// The end of the header block.
			break
		}
		colon := bytes.IndexByte(line, ':')
		nl := bytes.IndexByte(line, '\n')
		if colon < 0 || (nl >= 0 && colon > nl) {
			out = append(out, field{raw: line})
			continue
		}
		name := bytes.TrimRight(line[:colon], " \t")
		out = append(out, field{name: name, raw: line, val: line[colon+1:]})
	}
	return out
}

func isBlankLine(l []byte) bool {
	return len(l) == 1 && l[0] == '\n' || len(l) == 2 && l[0] == '\r' && l[1] == '\n'
}

// unfold removes the line breaks of a folded value (RFC 5322 2.2.3) and
// trims the whitespace at both ends.
func unfold(v []byte) string {
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return string(bytes.Trim(v, " \t"))
	}
	b := make([]byte, 0, len(v))
	for _, c := range v {
		if c != '\r' && c != '\n' {
			b = append(b, c)
		}
	}
	return string(bytes.Trim(b, " \t"))
}

// headerFields is the parsed header of one part, keeping the first value of
// each field that matters.
type headerFields struct {
	fields []field
}

// get returns the unfolded value of the first field with that name
// (case-insensitive) and whether it exists.
func (h *headerFields) get(name string) (string, bool) {
	for i := range h.fields {
		if asciiEqualFold(h.fields[i].name, name) {
			return unfold(h.fields[i].val), true
		}
	}
	return "", false
}

// asciiEqualFold compares a field name with an ASCII name, ignoring case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if lx := x | 0x20; lx != y|0x20 || lx < 'a' || lx > 'z' {
			return false
		}
	}
	return true
}

// paramValue finds a parameter by case-insensitive name.
func paramValue(ps []Param, name string) string {
	for _, p := range ps {
		if strings.EqualFold(p.Name, name) {
			return p.Value
		}
	}
	return ""
}

// parseValueParams splits "value; a=b; c="d"" (RFC 2045 5.1, RFC 2183) into
// the leading value and its parameters, leniently: comments are skipped,
// quoted strings are unquoted, parameters without '=' are dropped.
func parseValueParams(s string) (string, []Param) {
	s = stripComments(s)
	i := strings.IndexByte(s, ';')
	if i < 0 {
		return strings.TrimSpace(s), nil
	}
	value := strings.TrimSpace(s[:i])
	var params []Param
	rest := s[i+1:]
	for len(rest) > 0 {
		rest = strings.TrimLeft(rest, " \t;")
		if rest == "" {
			break
		}
		eq := strings.IndexAny(rest, "=;")
		if eq < 0 || rest[eq] == ';' {
			// A parameter without a value; skip it.
			if eq < 0 {
				break
			}
			rest = rest[eq+1:]
			continue
		}
		name := strings.TrimSpace(rest[:eq])
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			val, rest = readQuoted(rest[1:])
		} else {
			end := strings.IndexByte(rest, ';')
			if end < 0 {
				end = len(rest)
			}
			val = strings.TrimSpace(rest[:end])
			rest = rest[end:]
		}
		if name != "" {
			params = append(params, Param{Name: name, Value: val})
		}
	}
	return value, params
}

// readQuoted reads a quoted string whose opening quote has been consumed,
// undoing quoted-pairs; it returns the content and what follows the closing
// quote (or "" if the quote is never closed).
func readQuoted(s string) (string, string) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

// stripComments removes RFC 5322 comments outside quoted strings.
func stripComments(s string) string {
	if strings.IndexByte(s, '(') < 0 {
		return s
	}
	var b strings.Builder
	depth := 0
	inQuote := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (inQuote || depth > 0) && i+1 < len(s):
			if depth == 0 {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
			}
			i++
		case inQuote:
			if c == '"' {
				inQuote = false
			}
			b.WriteByte(c)
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '"':
			inQuote = true
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// mimeInfo fills p's BODYSTRUCTURE fields from its header. inDigest says
// whether the parent is multipart/digest, which changes the default type.
func mimeInfo(p *Part, h *headerFields, inDigest bool) {
	ct, ok := h.get("Content-Type")
	typ, params := parseValueParams(ct)
	slash := strings.IndexByte(typ, '/')
	if ok && slash > 0 && slash < len(typ)-1 && isToken(typ[:slash]) && isToken(typ[slash+1:]) {
		p.Type = strings.ToLower(typ[:slash])
		p.Subtype = strings.ToLower(typ[slash+1:])
		p.Params = params
	} else if inDigest {
		p.Type, p.Subtype = "message", "rfc822"
	} else {
		p.Type, p.Subtype = "text", "plain"
		p.Params = []Param{{Name: "charset", Value: "us-ascii"}}
	}
	p.ID, _ = h.get("Content-ID")
	p.Description, _ = h.get("Content-Description")
	enc, _ := h.get("Content-Transfer-Encoding")
	p.Encoding = strings.TrimSpace(stripComments(enc))
	p.MD5, _ = h.get("Content-MD5")
	p.Location, _ = h.get("Content-Location")
	if d, ok := h.get("Content-Disposition"); ok {
		v, dp := parseValueParams(d)
		p.Disposition = strings.ToLower(v)
		p.DispositionParams = dp
	}
	if l, ok := h.get("Content-Language"); ok {
		for _, tag := range strings.Split(stripComments(l), ",") {
			if tag = strings.TrimSpace(tag); tag != "" {
				p.Language = append(p.Language, tag)
			}
		}
	}
}

// isToken reports whether s is a non-empty RFC 2045 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// encodingKind classifies a Content-Transfer-Encoding value.
type encodingKind uint8

const (
	encIdentity encodingKind = iota
	encBase64
	encQP
	encUnknown
)

func classifyEncoding(e string) encodingKind {
	switch strings.ToLower(e) {
	case "", "7bit", "8bit", "binary":
		return encIdentity
	case "base64":
		return encBase64
	case "quoted-printable":
		return encQP
	}
	return encUnknown
}
