package message

import (
	"mime"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// buildEnvelope makes the ENVELOPE of RFC 9051 7.5.2 from a message header.
func buildEnvelope(h *headerFields) Envelope {
	var e Envelope
	e.Date, _ = h.get("Date")
	e.Subject, _ = h.get("Subject")
	e.InReplyTo, _ = h.get("In-Reply-To")
	e.MessageID, _ = h.get("Message-ID")
	list := func(name string) []Address {
		v, ok := h.get(name)
		if !ok {
			return nil
		}
		return ParseAddressList(v)
	}
	e.From = list("From")
	e.Sender = list("Sender")
	e.ReplyTo = list("Reply-To")
	e.To = list("To")
	e.Cc = list("Cc")
	e.Bcc = list("Bcc")
	// RFC 9051 7.5.2: absent or empty Sender and Reply-To take From's value.
	if len(e.Sender) == 0 {
		e.Sender = e.From
	}
	if len(e.ReplyTo) == 0 {
		e.ReplyTo = e.From
	}
	return e
}

// buildSearchFields decodes what SEARCH and SORT compare, from the header
// and the envelope already built from it.
func buildSearchFields(h *headerFields, env *Envelope) SearchFields {
	s := searchFromEnvelope(env)
	if v, ok := h.get("References"); ok {
		s.References = MessageIDs(v)
	}
	return s
}

// searchFromEnvelope returns the search fields an envelope determines:
// all but References. The envelope holds the raw Subject, Date,
// Message-ID and In-Reply-To values, so the stored form keeps only what
// differs from this (codec.go).
func searchFromEnvelope(env *Envelope) SearchFields {
	var s SearchFields
	if env.Subject != "" {
		s.Subject = DecodeHeader(env.Subject)
	}
	s.From = FormatAddresses(env.From)
	s.To = FormatAddresses(env.To)
	s.Cc = FormatAddresses(env.Cc)
	s.Bcc = FormatAddresses(env.Bcc)
	if env.Date != "" {
		s.Date = ParseDate(env.Date)
	}
	s.MessageID = firstMessageID(env.MessageID)
	if s.MessageID == "" {
		s.MessageID = env.MessageID
	}
	s.InReplyTo = firstMessageID(env.InReplyTo)
	return s
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// DecodeHeader decodes RFC 2047 encoded words of an unfolded header value to
// UTF-8. Undecodable words are left as they are; bytes that are not UTF-8
// (raw 8-bit headers) are read as ISO-8859-1.
func DecodeHeader(v string) string {
	if strings.Contains(v, "=?") {
		if d, err := wordDecoder.DecodeHeader(v); err == nil {
			v = d
		}
	}
	if !utf8.ValidString(v) {
		r := make([]rune, 0, len(v))
		for i := 0; i < len(v); {
			c, n := utf8.DecodeRuneInString(v[i:])
			if c == utf8.RuneError && n <= 1 {
				c = rune(v[i])
				n = 1
			}
			r = append(r, c)
			i += n
		}
		v = string(r)
	}
	return v
}

// FormatAddresses renders decoded mailboxes as "Name <mailbox@host>" or
// "mailbox@host", joined by ", "; group markers are left out.
func FormatAddresses(as []Address) string {
	if len(as) == 0 {
		return ""
	}
	n := 0
	for _, a := range as {
		n += len(a.Name) + len(a.Mailbox) + len(a.Host) + 6
	}
	var b strings.Builder
	b.Grow(n) // one allocation: the stored form derives these on every full read
	for _, a := range as {
		if a.Kind != AddrMailbox {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		if a.Name != "" {
			b.WriteString(a.Name)
			b.WriteString(" <")
		}
		b.WriteString(a.Mailbox)
		if a.Host != MissingDomain {
			b.WriteByte('@')
			b.WriteString(a.Host)
		}
		if a.Name != "" {
			b.WriteByte('>')
		}
	}
	return DecodeHeader(b.String())
}

// GroupNames returns the decoded names of the groups in an address list
// (RFC 5322 3.4 group syntax), joined by ", ": SEARCH FROM/TO/CC/BCC
// matches a group's name as it matches a display name. Empty when the
// list has no group, which is the usual case, so it costs nothing then.
func GroupNames(as []Address) string {
	var names []string
	for _, a := range as {
		if a.Kind == AddrGroupStart {
			names = append(names, a.Mailbox)
		}
	}
	if names == nil {
		return ""
	}
	return DecodeHeader(strings.Join(names, ", "))
}

// firstMessageID is the first of MessageIDs(v), "" when there is none.
func firstMessageID(v string) string {
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			return ""
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return ""
		}
		if id := v[i : i+j+1]; len(id) > 2 {
			return id
		}
		v = v[i+j+1:]
	}
}

// MessageIDs extracts the "<...>" message identifiers of a Message-ID,
// In-Reply-To or References value, in order.
func MessageIDs(v string) []string {
	var ids []string
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			return ids
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return ids
		}
		if id := v[i : i+j+1]; len(id) > 2 {
			ids = append(ids, id)
		}
		v = v[i+j+1:]
	}
}

var dateLayouts = []string{
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04 -0700",
	"Mon, 2 Jan 06 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 MST",
	"Mon, 2 Jan 2006 15:04:05",
	"Mon Jan 2 15:04:05 2006",
	time.RFC3339,
}

// ParseDate parses an RFC 5322 date-time leniently; it returns the zero
// time when nothing sensible can be read.
func ParseDate(v string) time.Time {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(dateLayouts[0], v); err == nil {
		return t
	}
	if t, err := mail.ParseDate(v); err == nil {
		return t
	}
	v = strings.Join(strings.Fields(stripComments(v)), " ")
	if t, err := mail.ParseDate(v); err == nil {
		return t
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t
		}
	}
	return time.Time{}
}
