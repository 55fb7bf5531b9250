package message

import (
	"strings"
)

// Address lists (RFC 5322 3.4) are parsed leniently: whatever cannot be
// understood is skipped or kept in the nearest field, never an error.

// addrToken is one lexical token of an address header.
type addrToken struct {
	kind    byte   // 'a' atom, 'q' quoted string, 'd' domain literal, 'c' comment, or the special itself
	text    string // atom text, unquoted string, literal with brackets, comment text
	spaceBf bool   // whitespace or a comment came before it
}

const addrSpecials = "()<>[]:;@\\,.\""

var isAddrSpecial = func() (t [256]bool) {
	for i := 0; i < len(addrSpecials); i++ {
		t[addrSpecials[i]] = true
	}
	return t
}()

func tokenizeAddresses(s string) []addrToken {
	toks := make([]addrToken, 0, len(s)/4+2)
	space := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			space = true
			i++
		case c == '"':
			v, rest := readQuoted(s[i+1:])
			toks = append(toks, addrToken{kind: 'q', text: v, spaceBf: space})
			i = len(s) - len(rest)
			space = false
		case c == '(':
			depth, j := 0, i
			var b strings.Builder
			for ; j < len(s); j++ {
				ch := s[j]
				if ch == '\\' && j+1 < len(s) {
					j++
					b.WriteByte(s[j])
					continue
				}
				if ch == '(' {
					depth++
					if depth == 1 {
						continue
					}
				} else if ch == ')' {
					depth--
					if depth == 0 {
						j++
						break
					}
				}
				b.WriteByte(ch)
			}
			toks = append(toks, addrToken{kind: 'c', text: b.String(), spaceBf: space})
			i = j
			space = true
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				j = len(s) - i - 1
			}
			toks = append(toks, addrToken{kind: 'd', text: s[i : i+j+1], spaceBf: space})
			i += j + 1
			space = false
		case isAddrSpecial[c]:
			toks = append(toks, addrToken{kind: c, text: string(c), spaceBf: space})
			i++
			space = false
		default:
			j := i
			for j < len(s) && s[j] > ' ' && !isAddrSpecial[s[j]] {
				j++
			}
			if j == i { // a control character: skip it
				j++
			} else {
				toks = append(toks, addrToken{kind: 'a', text: s[i:j], spaceBf: space})
			}
			i = j
			space = false
		}
	}
	return toks
}

// ParseAddressList parses an address list header value, with group syntax
// reported as AddrGroupStart / AddrGroupEnd markers (RFC 9051 7.5.2). It
// never fails; unparseable pieces are dropped.
func ParseAddressList(s string) []Address {
	toks := tokenizeAddresses(s)
	var out []Address
	inGroup := false
	for len(toks) > 0 {
		// One address runs to the next top-level ',' or ';', or a ':'
		// that opens a group (a ':' inside <...> is a source route).
		end, angle := 0, false
		stop := byte(0)
		for ; end < len(toks); end++ {
			k := toks[end].kind
			if k == '<' {
				angle = true
			} else if k == '>' {
				angle = false
			} else if !angle && (k == ',' || k == ';' || (k == ':' && !inGroup)) {
				stop = k
				break
			}
		}
		cur := toks[:end]
		if end < len(toks) {
			toks = toks[end+1:]
		} else {
			toks = nil
		}
		if stop == ':' {
			// A group without a name cannot be told from a group end
			// marker by a client: read its members as plain addresses.
			if name := phrase(cur); name != "" {
				out = append(out, Address{Kind: AddrGroupStart, Mailbox: name})
				inGroup = true
			}
			continue
		}
		// RFC 9051 7.5.2 has no form for a group member that is not an
		// address (a bare display name, "Name <>"): inside a group it is
		// left out rather than sent with MISSING_* placeholders.
		if a, ok := parseMailbox(cur); ok && !(inGroup && (a.Mailbox == MissingMailbox || a.Host == MissingDomain)) {
			out = append(out, a)
		}
		if stop == ';' && inGroup {
			out = append(out, Address{Kind: AddrGroupEnd})
			inGroup = false
		}
	}
	if inGroup {
		out = append(out, Address{Kind: AddrGroupEnd})
	}
	return out
}

// parseMailbox turns the tokens of one mailbox into an Address. Comments
// and stray angle brackets are skipped by joinTokens.
func parseMailbox(toks []addrToken) (Address, bool) {
	var a Address
	var comment string
	lt := -1
	onlyComments := true
	for i, t := range toks {
		if t.kind == 'c' && comment == "" {
			comment = strings.TrimSpace(t.text)
		}
		if t.kind != 'c' {
			onlyComments = false
		}
		if t.kind == '<' && lt < 0 {
			lt = i
		}
	}
	if onlyComments {
		// "G: a@b; (the end of the group)": a comment is not an address.
		return Address{}, false
	}
	spec := toks
	if lt >= 0 {
		a.Name = phrase(toks[:lt])
		spec = toks[lt+1:]
		for i, t := range spec {
			if t.kind == '>' {
				spec = spec[:i]
				break
			}
		}
		// Source route: "@a,@b:" before the addr-spec.
		for i, t := range spec {
			if t.kind == ':' {
				a.ADL = joinTokens(spec[:i], false)
				spec = spec[i+1:]
				break
			}
		}
	} else if comment != "" {
		// "user@host (Name)": the comment stands in for a display name.
		a.Name = comment
	}
	at := -1
	for i := len(spec) - 1; i >= 0; i-- {
		if spec[i].kind == '@' {
			at = i
			break
		}
	}
	if at >= 0 {
		a.Mailbox = joinTokens(spec[:at], false)
		a.Host = joinTokens(spec[at+1:], false)
	} else {
		a.Mailbox = joinTokens(spec, false)
	}
	if a.Mailbox == "" && a.Host == "" && a.Name == "" {
		return Address{}, false
	}
	if a.Mailbox == "" {
		a.Mailbox = MissingMailbox
	}
	if a.Host == "" {
		a.Host = MissingDomain
	}
	return a, true
}

// phrase joins display-name tokens with single spaces where the header had
// whitespace (RFC 5322 3.2.5, including obs-phrase dots).
func phrase(toks []addrToken) string {
	return joinTokens(toks, true)
}

func joinTokens(toks []addrToken, keepSpace bool) string {
	if len(toks) == 1 && (toks[0].kind == 'a' || toks[0].kind == 'q' || toks[0].kind == 'd') {
		return toks[0].text
	}
	var b strings.Builder
	for i, t := range toks {
		if t.kind == 'c' || t.kind == '<' || t.kind == '>' {
			continue
		}
		if keepSpace && i > 0 && t.spaceBf && b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
	}
	return b.String()
}
