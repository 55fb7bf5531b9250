package sortthread

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Msg is one message's sort and thread keys. Strings are casemapped
// (Casemap) unless said otherwise.
type Msg struct {
	UID store.UID
	// Arrival is INTERNALDATE (ARRIVAL), Sent the Date header's time, or
	// INTERNALDATE when the header is missing or unreadable (RFC 5256 2.2);
	// both in Unix seconds, so zones are normalised away.
	Arrival, Sent int64
	Size          int64
	// From, To and Cc are the addr-mailbox of the first address (RFC 5256
	// FROM, TO, CC); DisplayFrom and DisplayTo the RFC 5957 display value.
	From, To, Cc           string
	DisplayFrom, DisplayTo string
	// Subject is the base subject (RFC 5256 2.1); ReplyOrFwd tells whether
	// its extraction removed a reply or forward marker.
	Subject    string
	ReplyOrFwd bool
	// MessageID and Refs are normalised message ids (NormalizeID), not
	// casemapped: RFC 5256 compares them case-sensitively. Refs are the
	// References ids, or the first In-Reply-To id when References has none.
	MessageID string
	Refs      []string
}

// FromMessage computes the keys of a stored message from the structure
// parsed at delivery; no message bytes are read.
func FromMessage(md *store.MessageData) Msg {
	m, hasSent := fromStructure(md.Structure)
	m.UID, m.Arrival, m.Size = md.UID, md.InternalDate.Unix(), md.Size
	if !hasSent {
		m.Sent = m.Arrival
	}
	// The structure's strings are cut from one buffer holding the whole
	// stored structure; the keys outlive it in a cache, so they must not
	// keep it alive (100,000 cached messages would hold every structure).
	for _, p := range []*string{&m.From, &m.To, &m.Cc, &m.DisplayFrom, &m.DisplayTo, &m.Subject, &m.MessageID} {
		*p = strings.Clone(*p)
	}
	for i := range m.Refs {
		m.Refs[i] = strings.Clone(m.Refs[i])
	}
	return m
}

// fromStructure computes the keys that depend on the message's bytes
// only: all but UID, Arrival and Size; hasSent is false (and Sent unset)
// when the Date header is missing or unreadable.
func fromStructure(st *message.Structure) (m Msg, hasSent bool) {
	if st == nil {
		return m, false
	}
	if !st.Search.Date.IsZero() {
		m.Sent, hasSent = st.Search.Date.Unix(), true
	}
	env := &st.Envelope
	m.From = Casemap(addrMailbox(env.From))
	m.To = Casemap(addrMailbox(env.To))
	m.Cc = Casemap(addrMailbox(env.Cc))
	m.DisplayFrom = Casemap(displayValue(env.From))
	m.DisplayTo = Casemap(displayValue(env.To))
	subj := st.Search.Subject
	if subj == "" && env.Subject != "" {
		subj = message.DecodeHeader(env.Subject)
	}
	base, rf := BaseSubject(subj)
	m.Subject, m.ReplyOrFwd = Casemap(base), rf
	m.MessageID = NormalizeID(st.ThreadRefs().MessageID)
	for _, id := range st.Search.References {
		if n := NormalizeID(id); n != "" {
			m.Refs = append(m.Refs, n)
		}
	}
	if len(m.Refs) == 0 {
		if n := NormalizeID(st.Search.InReplyTo); n != "" {
			m.Refs = []string{n}
		}
	}
	return m, hasSent
}

// firstMailbox is the first ordinary address of a list (group markers
// skipped), or nil.
func firstMailbox(as []message.Address) *message.Address {
	for i := range as {
		if as[i].Kind == message.AddrMailbox {
			return &as[i]
		}
	}
	return nil
}

// addrMailbox is the first address's addr-mailbox, "" when there is none.
func addrMailbox(as []message.Address) string {
	a := firstMailbox(as)
	if a == nil || a.Mailbox == message.MissingMailbox {
		return ""
	}
	return a.Mailbox
}

// displayValue is RFC 5957 section 3: the decoded addr-name when not
// empty, else addr-mailbox@addr-host, else addr-mailbox, else "".
func displayValue(as []message.Address) string {
	a := firstMailbox(as)
	if a == nil {
		return ""
	}
	if a.Name != "" {
		if n := message.DecodeHeader(a.Name); n != "" {
			return n
		}
	}
	mbox, host := a.Mailbox, a.Host
	if mbox == message.MissingMailbox {
		mbox = ""
	}
	if host == message.MissingDomain {
		host = ""
	}
	switch {
	case mbox != "" && host != "":
		return mbox + "@" + host
	default:
		return mbox
	}
}

// NormalizeID gives the form of a msg-id that RFC 5256 compares: no angle
// brackets or surrounding space, and a quoted local part unquoted
// (<"a b"@host> and <a b@host> are the same id).
func NormalizeID(id string) string {
	id = strings.TrimSpace(id)
	id = strings.TrimPrefix(id, "<")
	id = strings.TrimSuffix(id, ">")
	id = strings.TrimSpace(id)
	if !strings.Contains(id, `"`) {
		return id
	}
	var b strings.Builder
	quoted := false
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c == '"':
			quoted = !quoted
		case c == '\\' && quoted && i+1 < len(id):
			i++
			b.WriteByte(id[i])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Casemap is the i;unicode-casemap form of s (RFC 5051): every character
// to its titlecase, then NFKD, so that two strings are equal under the
// collation exactly when their forms are equal bytes, and order by bytes.
// RFC 5256 section 7 requires this collation for SORT and THREAD.
func Casemap(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s)
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return norm.NFKD.String(strings.Map(unicode.ToTitle, s))
}
