package search

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// MaxDepth bounds how deeply keys nest through NOT, OR and parentheses,
// so that a hostile command cannot exhaust the stack.
const MaxDepth = 64

// ErrBadCharset is returned by Program.CheckCharset for a CHARSET other
// than UTF-8 and US-ASCII; the command answers NO [BADCHARSET].
var ErrBadCharset = errors.New("search: unsupported charset")

// Charsets lists the CHARSET values accepted, for the BADCHARSET code.
var Charsets = []string{"UTF-8", "US-ASCII"}

// Program is a parsed search-program (RFC 9051 9).
type Program struct {
	// Charset is the CHARSET argument as sent, "" when absent.
	Charset string
	// Key is the AND of the program's keys.
	Key *Key
}

// Parse reads a search-program: ["CHARSET" SP charset SP] search-key
// *(SP search-key), stopping before the end of the line. first is an atom
// the caller already read from the program's start (it had to look at it to
// tell RETURN from a key), or "" if none was read.
func Parse(d *wire.Decoder, first string) (*Program, error) {
	p := &parser{d: d}
	prog := &Program{}
	if first == "" {
		c, err := d.Peek()
		if err != nil {
			return nil, err
		}
		if isKeyStart(c) {
			if first, err = d.Atom(); err != nil {
				return nil, err
			}
		}
	}
	if strings.EqualFold(first, "CHARSET") {
		if err := d.SP(); err != nil {
			return nil, err
		}
		cs, err := d.Astring()
		if err == nil {
			err = d.SP()
		}
		if err != nil {
			return nil, err
		}
		prog.Charset = cs
		first = ""
	}
	root := &Key{Op: OpAnd}
	for {
		k, err := p.key(first, 0)
		if err != nil {
			return nil, err
		}
		first = ""
		root.Children = append(root.Children, k)
		if !d.Special(' ') {
			break
		}
	}
	if len(root.Children) == 1 {
		prog.Key = root.Children[0]
	} else {
		prog.Key = root
	}
	return prog, nil
}

// isKeyStart says whether c starts an atom naming a key (as opposed to a
// sequence set, a list, or garbage).
func isKeyStart(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }

// CheckCharset applies RFC 9051 6.4.4: UTF-8 and US-ASCII are supported
// (search strings are read as UTF-8 either way, US-ASCII being a subset);
// any other charset is ErrBadCharset.
func (p *Program) CheckCharset() error {
	if p.Charset == "" {
		return nil
	}
	for _, c := range Charsets {
		if strings.EqualFold(p.Charset, c) {
			return nil
		}
	}
	return fmt.Errorf("%w %q", ErrBadCharset, p.Charset)
}

// String writes the program back in search-program syntax.
func (p *Program) String() string {
	var b strings.Builder
	if p.Charset != "" {
		b.WriteString("CHARSET ")
		writeQuoted(&b, p.Charset)
		b.WriteByte(' ')
	}
	if p.Key.Op == OpAnd {
		for i, c := range p.Key.Children {
			if i > 0 {
				b.WriteByte(' ')
			}
			c.write(&b)
		}
	} else {
		p.Key.write(&b)
	}
	return b.String()
}

type parser struct {
	d *wire.Decoder
}

func syntaxError(format string, args ...any) *wire.Error {
	return &wire.Error{Text: fmt.Sprintf(format, args...)}
}

// key reads one search-key. name is its already-read atom, if any.
func (p *parser) key(name string, depth int) (*Key, error) {
	if depth > MaxDepth {
		return nil, &wire.Error{Code: wire.CodeLimit, Text: "search keys nested too deeply"}
	}
	d := p.d
	if name == "" {
		c, err := d.Peek()
		if err != nil {
			return nil, err
		}
		switch {
		case c == '(':
			k := &Key{Op: OpAnd}
			err := d.List(func() error {
				c, err := p.key("", depth+1)
				k.Children = append(k.Children, c)
				return err
			})
			if err != nil {
				return nil, err
			}
			if len(k.Children) == 0 {
				return nil, syntaxError("empty list of search keys")
			}
			return k, nil
		case c >= '0' && c <= '9', c == '*', c == '$':
			set, err := d.SeqSet()
			if err != nil {
				return nil, err
			}
			return &Key{Op: OpSeqSet, Set: set}, nil
		case !isKeyStart(c):
			return nil, syntaxError("expected a search key")
		}
		if name, err = d.Atom(); err != nil {
			return nil, err
		}
	}
	name = strings.ToUpper(name)
	for _, f := range flagNames {
		switch name {
		case f.set:
			return &Key{Op: OpFlag, Flags: f.flag}, nil
		case f.uset:
			return &Key{Op: OpNoFlag, Flags: f.flag}, nil
		}
	}
	switch name {
	case "ALL", "SAVEDATESUPPORTED":
		return &Key{Op: OpAll}, nil
	case "RECENT": // RFC 3501 6.4.4, IMAP4rev1 only; see Program.SetRecent
		return &Key{Op: OpRecent}, nil
	case "NEW": // RECENT UNSEEN
		return &Key{Op: OpAnd, Children: []*Key{{Op: OpRecent}, {Op: OpNoFlag, Flags: store.FlagSeen}}}, nil
	case "OLD": // NOT RECENT
		return &Key{Op: OpNot, Children: []*Key{{Op: OpRecent}}}, nil
	case "NOT":
		c, err := p.arg(depth)
		if err != nil {
			return nil, err
		}
		return &Key{Op: OpNot, Children: []*Key{c}}, nil
	case "OR":
		a, err := p.arg(depth)
		if err != nil {
			return nil, err
		}
		b, err := p.arg(depth)
		if err != nil {
			return nil, err
		}
		return &Key{Op: OpOr, Children: []*Key{a, b}}, nil
	case "UID":
		if err := d.SP(); err != nil {
			return nil, err
		}
		set, err := d.SeqSet()
		if err != nil {
			return nil, err
		}
		return &Key{Op: OpUID, Set: set}, nil
	case "KEYWORD", "UNKEYWORD":
		kw, err := p.atomArg()
		if err != nil {
			return nil, err
		}
		op := OpKeyword
		if name == "UNKEYWORD" {
			op = OpUnkeyword
		}
		return &Key{Op: op, Str: kw}, nil
	case "LARGER", "SMALLER":
		if err := d.SP(); err != nil {
			return nil, err
		}
		n, err := d.Number64()
		if err != nil {
			return nil, err
		}
		op := OpLarger
		if name == "SMALLER" {
			op = OpSmaller
		}
		return &Key{Op: op, Num: n}, nil
	case "OLDER", "YOUNGER": // RFC 5032
		if err := d.SP(); err != nil {
			return nil, err
		}
		n, err := d.NzNumber()
		if err != nil {
			return nil, err
		}
		op := OpOlder
		if name == "YOUNGER" {
			op = OpYounger
		}
		return &Key{Op: op, Num: uint64(n)}, nil
	case "MODSEQ":
		return p.modseq()
	case "EMAILID", "THREADID": // RFC 8474 6
		id, err := p.atomArg()
		if err != nil {
			return nil, err
		}
		if !validObjectID(id) {
			return nil, syntaxError("invalid object id %q", id)
		}
		op := OpEmailID
		if name == "THREADID" {
			op = OpThreadID
		}
		return &Key{Op: op, Str: id}, nil
	case "HEADER":
		if err := d.SP(); err != nil {
			return nil, err
		}
		field, err := d.Astring()
		if err != nil {
			return nil, err
		}
		if !validFieldName(field) {
			return nil, syntaxError("invalid header field name %q", field)
		}
		s, err := p.stringArg()
		if err != nil {
			return nil, err
		}
		return &Key{Op: OpHeader, Field: field, Str: s, matcher: message.NewMatcher(s)}, nil
	}
	if op, ok := dateOps[name]; ok {
		if err := d.SP(); err != nil {
			return nil, err
		}
		t, err := d.Date()
		if err != nil {
			return nil, err
		}
		return &Key{Op: op, Date: t}, nil
	}
	if op, ok := stringOps[name]; ok {
		s, err := p.stringArg()
		if err != nil {
			return nil, err
		}
		return &Key{Op: op, Str: s, matcher: message.NewMatcher(s)}, nil
	}
	return nil, syntaxError("unknown search key %s", name)
}

var dateOps = map[string]Op{
	"BEFORE": OpBefore, "ON": OpOn, "SINCE": OpSince,
	"SENTBEFORE": OpSentBefore, "SENTON": OpSentOn, "SENTSINCE": OpSentSince,
	"SAVEDBEFORE": OpSavedBefore, "SAVEDON": OpSavedOn, "SAVEDSINCE": OpSavedSince,
}

var stringOps = map[string]Op{
	"FROM": OpFrom, "TO": OpTo, "CC": OpCc, "BCC": OpBcc, "SUBJECT": OpSubject,
	"BODY": OpBody, "TEXT": OpText,
}

// arg reads " search-key", the argument of NOT and OR.
func (p *parser) arg(depth int) (*Key, error) {
	if err := p.d.SP(); err != nil {
		return nil, err
	}
	return p.key("", depth+1)
}

func (p *parser) atomArg() (string, error) {
	if err := p.d.SP(); err != nil {
		return "", err
	}
	return p.d.Atom()
}

func (p *parser) stringArg() (string, error) {
	if err := p.d.SP(); err != nil {
		return "", err
	}
	return p.d.Astring()
}

// modseq reads RFC 7162 3.1.5's arguments:
// MODSEQ [SP entry-name SP entry-type-req] SP mod-sequence-valzer.
func (p *parser) modseq() (*Key, error) {
	d := p.d
	if err := d.SP(); err != nil {
		return nil, err
	}
	k := &Key{Op: OpModSeq}
	if c, err := d.Peek(); err == nil && c == '"' {
		entry, err := d.Quoted()
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(strings.ToLower(entry), "/flags/") || len(entry) == len("/flags/") {
			return nil, syntaxError("invalid MODSEQ entry name %q", entry)
		}
		typ, err := p.atomArg()
		if err != nil {
			return nil, err
		}
		typ = strings.ToLower(typ)
		if typ != "priv" && typ != "shared" && typ != "all" {
			return nil, syntaxError("invalid MODSEQ entry type %q", typ)
		}
		if err := d.SP(); err != nil {
			return nil, err
		}
		k.ModSeqEntry, k.ModSeqType = entry, typ
	}
	n, err := d.Number64()
	if err != nil {
		return nil, err
	}
	k.Num = n
	return k, nil
}

// validObjectID checks RFC 8474 objectid: 1*255(ALPHA / DIGIT / "_" / "-").
func validObjectID(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validFieldName checks RFC 5322 field-name: printable ASCII but ':'.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// Resolve turns every sequence and UID set of the tree into UIDs with fn,
// which gets the set as sent and whether it holds UIDs. It runs once,
// before evaluation.
func (p *Program) Resolve(fn func(set wire.SeqSet, uid bool) (store.UIDSet, error)) error {
	return p.Key.walk(func(k *Key) error {
		var err error
		switch k.Op {
		case OpSeqSet:
			k.UIDs, err = fn(k.Set, false)
		case OpUID:
			k.UIDs, err = fn(k.Set, true)
		}
		return err
	})
}

// SetRecent gives the RECENT keys (and NEW and OLD, built on them) the
// UIDs that are \Recent for the searching session; until it is called
// no message is recent.
func (p *Program) SetRecent(uids store.UIDSet) {
	p.Key.walk(func(k *Key) error {
		if k.Op == OpRecent {
			k.UIDs = uids
		}
		return nil
	})
}

// HasModSeq reports whether the program uses the MODSEQ key: the response
// then carries the highest modseq of the matches (RFC 7162 3.1.5) and
// CONDSTORE becomes enabled.
func (p *Program) HasModSeq() bool {
	return p.Key.walk(func(k *Key) error {
		if k.Op == OpModSeq {
			return errFound
		}
		return nil
	}) != nil
}

var errFound = errors.New("found")

// Need is the most expensive data some message may need to be decided.
func (p *Program) Need() Level { return p.Key.level() }
