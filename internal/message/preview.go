package message

import (
	"html"
	"io"
	"strings"
	"unicode"
)

// PreviewChars is the length of a preview in characters: RFC 8970 3.3
// says a server SHOULD stop at 200 and MUST NOT pass 256.
const PreviewChars = 200

// previewRead bounds how much decoded text of the chosen part is read:
// enough for PreviewChars of text after an HTML head, styles and markup.
const previewRead = 64 << 10

// Preview is the RFC 8970 preview of a message: the first PreviewChars
// characters of the text a reader is shown first, as plain UTF-8 text on
// one line. The part is the first text/plain or text/html leaf that is
// not an attachment, preferring text/plain within a multipart/alternative;
// its transfer encoding is undone and its charset converted (TextReader),
// HTML markup, scripts, styles and comments are dropped and entities
// decoded, and every run of whitespace becomes one space. A message
// without such a part has the empty preview (RFC 8970 3.2).
func Preview(s *Structure, r io.ReaderAt) (string, error) {
	p := displayPart(s.Root())
	if p == nil {
		return "", nil
	}
	tr, err := TextReader(p, r)
	if err != nil {
		return "", err
	}
	raw, err := io.ReadAll(io.LimitReader(tr, previewRead))
	if err != nil {
		return "", err
	}
	text := strings.ToValidUTF8(string(raw), "\uFFFD")
	if p.Subtype == "html" {
		text = stripHTML(text)
	}
	return collapse(text, PreviewChars), nil
}

// displayPart finds the part a reader is shown first.
func displayPart(p *Part) *Part {
	if p == nil {
		return nil
	}
	switch {
	case p.Type == "multipart" && p.Subtype == "alternative":
		var html *Part
		for _, c := range p.Children {
			if c.Type == "text" && c.Subtype == "plain" && !isAttachment(c) {
				return c
			}
			if html == nil {
				html = displayPart(c)
			}
		}
		return html
	case p.Type == "multipart":
		for _, c := range p.Children {
			if d := displayPart(c); d != nil {
				return d
			}
		}
		return nil
	case p.Type == "text" && (p.Subtype == "plain" || p.Subtype == "html") && !isAttachment(p):
		return p
	}
	return nil
}

func isAttachment(p *Part) bool { return p.Disposition == "attachment" }

// stripHTML turns HTML into its text: tags dropped (a block-level break
// becomes a space), the content of script, style, head and title elements
// and of comments dropped, entities decoded.
func stripHTML(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(html.UnescapeString(s))
			break
		}
		b.WriteString(html.UnescapeString(s[:i]))
		s = s[i:]
		if strings.HasPrefix(s, "<!--") {
			end := strings.Index(s, "-->")
			if end < 0 {
				break
			}
			s = s[end+3:]
			continue
		}
		end := strings.IndexByte(s, '>')
		if end < 0 {
			break
		}
		closing := end > 1 && s[1] == '/'
		tag := strings.ToLower(strings.TrimLeft(s[1:end], "/"))
		if f := strings.FieldsFunc(tag, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '/' }); len(f) > 0 {
			tag = f[0]
		}
		s = s[end+1:]
		switch tag {
		case "script", "style", "head", "title":
			if closing {
				break
			}
			closeTag := "</" + tag
			if k := strings.Index(strings.ToLower(s), closeTag); k >= 0 {
				s = s[k:]
				if e := strings.IndexByte(s, '>'); e >= 0 {
					s = s[e+1:]
				} else {
					s = ""
				}
			} else {
				s = ""
			}
		}
		b.WriteByte(' ')
	}
	return b.String()
}

// collapse makes every run of whitespace (line breaks included) one space,
// trims the ends and keeps the first n characters of the result: it stops
// there rather than collapsing the whole text, most of which a preview
// never shows.
func collapse(s string, n int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || r == '\u00a0' || unicode.IsControl(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			if n--; n < 0 {
				break
			}
			b.WriteByte(' ')
			space = false
		}
		if n--; n < 0 {
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimRight(b.String(), " ")
}
