package loadtest

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// A small parser of the response data the stress checker reads (RFC 9051
// 9: response-data): the Client hands over whole responses with literals
// inlined after their "{n}\r\n" announcements.

// item is one parsed value: an atom (numbers, NIL and section names such
// as BODY[] or BODY[TEXT]<0> included), a string (quoted or literal), or
// a parenthesized list.
type item struct {
	atom   string
	str    []byte
	isStr  bool
	list   []item
	isList bool
}

func (it item) String() string {
	switch {
	case it.isList:
		parts := make([]string, len(it.list))
		for i, x := range it.list {
			parts[i] = x.String()
		}
		return "(" + strings.Join(parts, " ") + ")"
	case it.isStr:
		return strconv.Quote(string(it.str))
	}
	return it.atom
}

// number returns the item as an unsigned number.
func (it item) number() (uint64, bool) {
	if it.isList || it.isStr {
		return 0, false
	}
	n, err := strconv.ParseUint(it.atom, 10, 64)
	return n, err == nil
}

type respParser struct {
	b   []byte
	pos int
}

func (p *respParser) errorf(format string, a ...any) error {
	return fmt.Errorf("at byte %d: %s", p.pos, fmt.Sprintf(format, a...))
}

func (p *respParser) skipSpaces() {
	for p.pos < len(p.b) && p.b[p.pos] == ' ' {
		p.pos++
	}
}

// items reads values up to the end of the response or a closing paren.
func (p *respParser) items() ([]item, error) {
	var out []item
	for {
		p.skipSpaces()
		if p.pos >= len(p.b) || p.b[p.pos] == ')' || p.b[p.pos] == '\r' || p.b[p.pos] == '\n' {
			return out, nil
		}
		it, err := p.item()
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
}

func (p *respParser) item() (item, error) {
	switch c := p.b[p.pos]; {
	case c == '(':
		p.pos++
		list, err := p.items()
		if err != nil {
			return item{}, err
		}
		if p.pos >= len(p.b) || p.b[p.pos] != ')' {
			return item{}, p.errorf("unclosed list")
		}
		p.pos++
		return item{list: list, isList: true}, nil
	case c == '"':
		var s []byte
		p.pos++
		for p.pos < len(p.b) {
			c := p.b[p.pos]
			p.pos++
			switch c {
			case '\\':
				if p.pos < len(p.b) {
					s = append(s, p.b[p.pos])
					p.pos++
				}
			case '"':
				return item{str: s, isStr: true}, nil
			default:
				s = append(s, c)
			}
		}
		return item{}, p.errorf("unterminated quoted string")
	case c == '{' || (c == '~' && p.pos+1 < len(p.b) && p.b[p.pos+1] == '{'):
		if c == '~' {
			p.pos++
		}
		end := bytes.IndexByte(p.b[p.pos:], '}')
		if end < 0 {
			return item{}, p.errorf("bad literal")
		}
		n, err := strconv.Atoi(strings.TrimSuffix(string(p.b[p.pos+1:p.pos+end]), "+"))
		if err != nil {
			return item{}, p.errorf("bad literal size")
		}
		p.pos += end + 1
		if !bytes.HasPrefix(p.b[p.pos:], []byte("\r\n")) || p.pos+2+n > len(p.b) {
			return item{}, p.errorf("literal of %d bytes cut short", n)
		}
		p.pos += 2
		s := p.b[p.pos : p.pos+n]
		p.pos += n
		return item{str: s, isStr: true}, nil
	}
	start := p.pos
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		if c == '[' {
			// A section: up to the matching bracket, spaces and parens
			// included (BODY[HEADER.FIELDS (SUBJECT)]).
			depth := 0
			for p.pos < len(p.b) {
				switch p.b[p.pos] {
				case '[':
					depth++
				case ']':
					depth--
				}
				p.pos++
				if depth == 0 {
					break
				}
			}
			continue
		}
		if c == ' ' || c == '(' || c == ')' || c == '\r' || c == '\n' {
			break
		}
		p.pos++
	}
	if p.pos == start {
		return item{}, p.errorf("unexpected %q", p.b[p.pos])
	}
	return item{atom: string(p.b[start:p.pos])}, nil
}

// parseItems parses a whole response body.
func parseItems(b []byte) ([]item, error) {
	p := &respParser{b: b}
	out, err := p.items()
	if err == nil && p.pos < len(p.b) && p.b[p.pos] == ')' {
		err = p.errorf("unbalanced ')'")
	}
	return out, err
}

// fetchData is the parsed content of one FETCH response.
type fetchData struct {
	seq       uint32
	uid       uint32
	flags     []string
	hasFlags  bool
	modseq    uint64
	size      int64
	hasSize   bool
	body      []byte // BODY[] or BINARY[] content
	hasBody   bool
	subject   string // ENVELOPE subject
	hasEnvSub bool
}

// parseFetch parses "* n FETCH (...)" whose text after "* " is rest.
func parseFetch(seq uint32, list []byte) (fetchData, error) {
	fd := fetchData{seq: seq}
	its, err := parseItems(list)
	if err != nil {
		return fd, err
	}
	if len(its) != 1 || !its[0].isList {
		return fd, fmt.Errorf("FETCH data is not one list")
	}
	kv := its[0].list
	if len(kv)%2 != 0 {
		return fd, fmt.Errorf("FETCH data has an odd number of items")
	}
	for i := 0; i < len(kv); i += 2 {
		name, v := strings.ToUpper(kv[i].atom), kv[i+1]
		switch {
		case name == "UID":
			n, ok := v.number()
			if !ok {
				return fd, fmt.Errorf("bad UID %s", v)
			}
			fd.uid = uint32(n)
		case name == "FLAGS":
			if !v.isList {
				return fd, fmt.Errorf("FLAGS not a list")
			}
			fd.hasFlags = true
			for _, f := range v.list {
				fd.flags = append(fd.flags, f.atom)
			}
		case name == "MODSEQ":
			if !v.isList || len(v.list) != 1 {
				return fd, fmt.Errorf("bad MODSEQ %s", v)
			}
			n, ok := v.list[0].number()
			if !ok {
				return fd, fmt.Errorf("bad MODSEQ %s", v)
			}
			fd.modseq = n
		case name == "RFC822.SIZE":
			n, ok := v.number()
			if !ok {
				return fd, fmt.Errorf("bad RFC822.SIZE %s", v)
			}
			fd.size, fd.hasSize = int64(n), true
		case name == "BODY[]" || name == "BINARY[]" || name == "RFC822":
			if !v.isStr {
				return fd, fmt.Errorf("%s is %s, not a string", name, v)
			}
			fd.body, fd.hasBody = v.str, true
		case name == "ENVELOPE":
			if !v.isList || len(v.list) < 2 {
				return fd, fmt.Errorf("bad ENVELOPE")
			}
			fd.subject, fd.hasEnvSub = string(v.list[1].str), true
		}
	}
	return fd, nil
}

// parseUIDSet parses a sequence set of UIDs ("1:3,7"); "*" is not
// accepted (servers send numbers).
func parseUIDSet(s string) ([]uint32, error) {
	var out []uint32
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err := strconv.ParseUint(lo, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad set %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 32); err != nil {
				return nil, fmt.Errorf("bad set %q", s)
			}
		}
		if a > b {
			a, b = b, a
		}
		if b-a > 1<<20 {
			return nil, fmt.Errorf("set %q too large", s)
		}
		for u := a; u <= b; u++ {
			out = append(out, uint32(u))
		}
	}
	return out, nil
}

// formatUIDs writes UIDs as a sequence set, ranges compressed.
func formatUIDs(uids []uint32) string {
	var b strings.Builder
	for i := 0; i < len(uids); {
		j := i
		for j+1 < len(uids) && uids[j+1] == uids[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(uids[i]), 10))
		if j > i {
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(uint64(uids[j]), 10))
		}
		i = j + 1
	}
	return b.String()
}

// respCodes returns the bracketed response code of a status text
// ("[APPENDUID 3 7] done" gives "APPENDUID 3 7").
func respCode(text string) string {
	if !strings.HasPrefix(text, "[") {
		return ""
	}
	if i := strings.IndexByte(text, ']'); i > 0 {
		return text[1:i]
	}
	return ""
}
