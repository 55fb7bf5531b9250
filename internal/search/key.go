package search

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// Op is what a Key tests.
type Op uint8

const (
	OpAll    Op = iota // every message (ALL, SAVEDATESUPPORTED)
	OpNone             // no message
	OpRecent           // the session's \Recent messages, UIDs (RECENT; NEW and OLD are built on it)
	OpAnd              // every child matches (a parenthesized list, the program)
	OpOr               // either of two children matches
	OpNot              // the child does not match

	OpSeqSet // message sequence numbers in Set
	OpUID    // UIDs in Set

	OpFlag      // all of Flags are set (ANSWERED, DELETED, DRAFT, FLAGGED, SEEN)
	OpNoFlag    // none of Flags is set (UNANSWERED...)
	OpKeyword   // keyword Str is set
	OpUnkeyword // keyword Str is not set
	OpModSeq    // modseq >= Num (RFC 7162 3.1.5)

	OpLarger  // RFC822.SIZE > Num
	OpSmaller // RFC822.SIZE < Num

	OpBefore      // INTERNALDATE's day < Date
	OpOn          // INTERNALDATE's day == Date
	OpSince       // INTERNALDATE's day >= Date
	OpSentBefore  // Date header's day < Date
	OpSentOn      // Date header's day == Date
	OpSentSince   // Date header's day >= Date
	OpSavedBefore // SAVEDATE's day < Date (RFC 8514)
	OpSavedOn     // SAVEDATE's day == Date
	OpSavedSince  // SAVEDATE's day >= Date
	OpOlder       // INTERNALDATE <= now - Num seconds (RFC 5032)
	OpYounger     // INTERNALDATE >= now - Num seconds

	OpEmailID  // EMAILID == Str (RFC 8474)
	OpThreadID // THREADID == Str

	OpFrom    // Str in the decoded From addresses
	OpTo      // ... To
	OpCc      // ... Cc
	OpBcc     // ... Bcc
	OpSubject // ... decoded Subject

	OpHeader // a Field header whose decoded value contains Str
	OpBody   // Str in a decoded text body part
	OpText   // Str in the header or a decoded text body part
)

// Level is the cost of the data a key needs, cheapest first.
type Level uint8

const (
	LevelState Level = iota // UID, flags, modseq
	LevelData               // stored metadata: dates, size, envelope fields
	LevelBody               // the message's bytes
)

// Key is one node of a search tree.
type Key struct {
	Op       Op
	Children []*Key
	// Set is the sequence or UID set as sent (OpSeqSet, OpUID); UIDs is
	// what it names once Program.Resolve ran.
	Set  wire.SeqSet
	UIDs store.UIDSet
	// Flags are the system flags of OpFlag / OpNoFlag.
	Flags store.SystemFlags
	// Str is the search string, keyword or object id; Field the header
	// name of OpHeader.
	Str   string
	Field string
	// Num is a size, a modseq or a number of seconds.
	Num uint64
	// Date is a calendar day (UTC midnight) for the date keys.
	Date time.Time
	// ModSeqEntry and ModSeqType are MODSEQ's optional entry name and
	// type, kept only to be written back: modseqs are per message, not per
	// flag, so they do not narrow the search (RFC 7162 3.1.5).
	ModSeqEntry, ModSeqType string

	matcher *message.Matcher
	// text is a text index's answer for this key (text.go), nil when it
	// is evaluated from the messages.
	text *store.TextHits
}

// level is the data k needs to be decided.
func (k *Key) level() Level {
	switch k.Op {
	case OpAll, OpNone, OpRecent, OpSeqSet, OpUID, OpFlag, OpNoFlag, OpKeyword, OpUnkeyword, OpModSeq:
		return LevelState
	case OpHeader, OpBody, OpText:
		if k.text != nil && k.text.Maybe.Empty() {
			return LevelState
		}
		return LevelBody
	case OpSubject, OpFrom, OpTo, OpCc, OpBcc:
		if k.text != nil && k.text.Maybe.Empty() {
			return LevelState
		}
	case OpAnd, OpOr, OpNot:
		l := LevelState
		for _, c := range k.Children {
			l = max(l, c.level())
		}
		return l
	}
	return LevelData
}

// walk calls fn for k and every key below it.
func (k *Key) walk(fn func(*Key) error) error {
	if err := fn(k); err != nil {
		return err
	}
	for _, c := range k.Children {
		if err := c.walk(fn); err != nil {
			return err
		}
	}
	return nil
}

var flagNames = []struct {
	flag      store.SystemFlags
	set, uset string
}{
	{store.FlagAnswered, "ANSWERED", "UNANSWERED"},
	{store.FlagDeleted, "DELETED", "UNDELETED"},
	{store.FlagDraft, "DRAFT", "UNDRAFT"},
	{store.FlagFlagged, "FLAGGED", "UNFLAGGED"},
	{store.FlagSeen, "SEEN", "UNSEEN"},
}

var opNames = map[Op]string{
	OpLarger: "LARGER", OpSmaller: "SMALLER", OpOlder: "OLDER", OpYounger: "YOUNGER",
	OpBefore: "BEFORE", OpOn: "ON", OpSince: "SINCE",
	OpSentBefore: "SENTBEFORE", OpSentOn: "SENTON", OpSentSince: "SENTSINCE",
	OpSavedBefore: "SAVEDBEFORE", OpSavedOn: "SAVEDON", OpSavedSince: "SAVEDSINCE",
	OpEmailID: "EMAILID", OpThreadID: "THREADID", OpKeyword: "KEYWORD", OpUnkeyword: "UNKEYWORD",
	OpFrom: "FROM", OpTo: "TO", OpCc: "CC", OpBcc: "BCC", OpSubject: "SUBJECT",
	OpBody: "BODY", OpText: "TEXT",
}

// String writes k back in search-key syntax, in a canonical spelling:
// parsing the result gives a tree with the same String.
func (k *Key) String() string {
	var b strings.Builder
	k.write(&b)
	return b.String()
}

func (k *Key) write(b *strings.Builder) {
	switch k.Op {
	case OpAll:
		b.WriteString("ALL")
	case OpNone:
		b.WriteString("NOT ALL")
	case OpRecent:
		b.WriteString("RECENT")
	case OpAnd:
		b.WriteByte('(')
		for i, c := range k.Children {
			if i > 0 {
				b.WriteByte(' ')
			}
			c.write(b)
		}
		b.WriteByte(')')
	case OpOr:
		b.WriteString("OR ")
		k.Children[0].write(b)
		b.WriteByte(' ')
		k.Children[1].write(b)
	case OpNot:
		b.WriteString("NOT ")
		k.Children[0].write(b)
	case OpSeqSet:
		b.WriteString(k.Set.String())
	case OpUID:
		b.WriteString("UID ")
		b.WriteString(k.Set.String())
	case OpFlag, OpNoFlag:
		first := true
		for _, f := range flagNames {
			if k.Flags&f.flag == 0 {
				continue
			}
			if !first {
				b.WriteByte(' ')
			}
			first = false
			if k.Op == OpFlag {
				b.WriteString(f.set)
			} else {
				b.WriteString(f.uset)
			}
		}
	case OpModSeq:
		b.WriteString("MODSEQ ")
		if k.ModSeqEntry != "" {
			writeQuoted(b, k.ModSeqEntry)
			b.WriteByte(' ')
			b.WriteString(k.ModSeqType)
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatUint(k.Num, 10))
	case OpLarger, OpSmaller, OpOlder, OpYounger:
		b.WriteString(opNames[k.Op])
		b.WriteByte(' ')
		b.WriteString(strconv.FormatUint(k.Num, 10))
	case OpBefore, OpOn, OpSince, OpSentBefore, OpSentOn, OpSentSince, OpSavedBefore, OpSavedOn, OpSavedSince:
		b.WriteString(opNames[k.Op])
		b.WriteByte(' ')
		b.WriteString(k.Date.Format(wire.DateLayout))
	case OpEmailID, OpThreadID, OpKeyword, OpUnkeyword:
		b.WriteString(opNames[k.Op])
		b.WriteByte(' ')
		b.WriteString(k.Str)
	case OpHeader:
		b.WriteString("HEADER ")
		writeQuoted(b, k.Field)
		b.WriteByte(' ')
		writeQuoted(b, k.Str)
	default:
		b.WriteString(opNames[k.Op])
		b.WriteByte(' ')
		writeQuoted(b, k.Str)
	}
}

// writeQuoted writes s as a quoted string (strings from a literal may hold
// CR or LF or bytes that are not UTF-8, which a quoted string cannot:
// those are written as a non-synchronizing literal).
func writeQuoted(b *strings.Builder, s string) {
	if strings.ContainsAny(s, "\r\n") || !utf8.ValidString(s) {
		b.WriteByte('{')
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteString("+}\r\n")
		b.WriteString(s)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}
