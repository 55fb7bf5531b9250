// Package message parses RFC 5322 / MIME messages once, at delivery, into
// the structure that FETCH and SEARCH use afterwards without re-parsing.
//
// # Model
//
// Parse reads a message as a stream, line by line, and records for every
// MIME part the byte offsets of its header, its body and the end of its body
// in the bytes exactly as they are stored (CRLF or bare LF line endings are
// both accepted and never rewritten). Together with the envelope, the
// BODYSTRUCTURE fields and a few decoded header fields for SEARCH and SORT,
// this is the Structure the store keeps beside each message
// (Structure.Marshal / Unmarshal).
//
// Afterwards every BODY[section] form is a slice of the stored bytes or, for
// HEADER.FIELDS and HEADER.FIELDS.NOT, a filtered slice of the header
// (Section); BINARY[section] decodes one part's transfer encoding as a stream
// (Decoded) and BINARY.SIZE was computed at parse time (Part.DecodedSize);
// SEARCH reads only the parts it needs (Matcher, HeaderContains,
// BodyContains, TextContains).
//
// # Malformed input
//
// Parse never fails on content: a missing blank line, a broken boundary, bad
// base64, an unknown charset, 8-bit header bytes or absurd nesting give a
// best-effort structure. Only a read error from the source is returned.
// Nesting of multiparts and encapsulated messages is capped at MaxDepth;
// deeper parts are kept as opaque application/octet-stream leaves. Only part
// headers (each capped at MaxHeaderBytes) are held in memory during the
// parse; bodies stream through.
//
// # Bounds
//
// A message is attacker-controlled input that every later FETCH, SEARCH and
// quota check reads the structure of, so the structure is bounded whatever
// the message: at most MaxParts parts in all and MaxChildren parts in one
// multipart (a delimiter line past either bound is not a delimiter: it and
// what follows stay text of the part being read, as opaque bytes), at most
// MaxHeaderTotal bytes of part headers parsed over the whole message (later
// part headers are kept as bytes but their fields ignored), and a stored form
// of at most MaxStructureBytes (Marshal keeps only the top-level part beyond
// it). Mail past the bounds is delivered, never refused; it just has fewer
// parts than its sender drew.
package message

import (
	"time"
)

// MaxDepth is how deep multiparts and encapsulated messages may nest before
// Parse stops descending into them.
const MaxDepth = 100

// MaxHeaderBytes is how much of one part's header Parse keeps for parsing.
// Bytes beyond it still count in offsets but their fields are ignored.
const MaxHeaderBytes = 256 << 10

// MaxParts is how many parts one message may have in all, counting the
// message itself and every encapsulated message's body.
const MaxParts = 1000

// MaxChildren is how many parts one multipart may have.
const MaxChildren = 500

// MaxHeaderTotal is how many bytes of part headers Parse parses over the
// whole message; the top-level header always fits.
const MaxHeaderTotal = 1 << 20

// MaxStructureBytes bounds the stored form of a structure (Marshal).
const MaxStructureBytes = 4 << 20

// Structure is the parse of one message made at delivery.
type Structure struct {
	// Size is the length of the message in octets as stored.
	Size int64
	// Envelope is the message's ENVELOPE (RFC 9051 7.5.2).
	Envelope Envelope
	// Body is the message itself as a part: HeaderOffset is 0, BodyOffset
	// is where the body starts and EndOffset is Size.
	Body *Part
	// Search holds decoded header fields for SEARCH and SORT.
	Search SearchFields

	// tree is the stored part tree of a structure read with
	// UnmarshalShallow while Body is nil (see Root).
	tree *lazyTree
	// form is the stored part tree Body was built from by DecodeInto,
	// formV3 whether it is version 3's (see TreeForm).
	form   string
	formV3 bool
}

// Envelope holds the raw, unfolded header values of RFC 9051 7.5.2. An empty
// string means the field is absent (sent as NIL).
type Envelope struct {
	Date      string
	Subject   string
	From      []Address
	Sender    []Address // defaults to From when absent or empty
	ReplyTo   []Address // defaults to From when absent or empty
	To        []Address
	Cc        []Address
	Bcc       []Address
	InReplyTo string
	MessageID string
}

// AddressKind tells a mailbox from the markers of RFC 5322 group syntax.
type AddressKind uint8

const (
	// AddrMailbox is an ordinary address.
	AddrMailbox AddressKind = iota
	// AddrGroupStart opens a group; Mailbox holds the group name and the
	// other fields are empty (sent as (NIL NIL "name" NIL)).
	AddrGroupStart
	// AddrGroupEnd closes a group; all fields are empty (NIL NIL NIL NIL).
	AddrGroupEnd
)

// Address is one element of an envelope address list, as RFC 9051 7.5.2
// describes it. Empty strings are sent as NIL. For AddrMailbox, Mailbox and
// Host are never empty: a missing local part or domain is filled with
// MissingMailbox or MissingDomain, so that a client cannot mistake the
// address for a group marker.
type Address struct {
	Kind    AddressKind
	Name    string // display name, raw (RFC 2047 words are not decoded)
	ADL     string // source route, without the trailing ':'
	Mailbox string
	Host    string
}

// Placeholders for parts of an address that the header did not contain.
const (
	MissingMailbox = "MISSING_MAILBOX"
	MissingDomain  = "MISSING_DOMAIN"
)

// Param is one parameter of Content-Type or Content-Disposition, in header
// order, with the value unquoted.
type Param struct {
	Name, Value string
}

// Part is one MIME part (or the whole message, Structure.Root).
//
// Offsets are into the stored message: the part's MIME header is
// [HeaderOffset, BodyOffset) including its terminating blank line if any,
// and its body is [BodyOffset, EndOffset). The line break before a boundary
// belongs to the boundary (RFC 2046 5.1.1), not to the body.
type Part struct {
	// Type and Subtype are lower-case; without a usable Content-Type they
	// are "text" and "plain" (RFC 2045 5.2), or "message" and "rfc822"
	// inside multipart/digest (RFC 2046 5.1.5).
	Type, Subtype string
	// Params are the Content-Type parameters in order. A part without a
	// Content-Type gets charset=us-ascii when it defaults to text/plain.
	Params []Param
	// ID, Description, Encoding, MD5 and Location are the raw, unfolded and
	// trimmed values of Content-ID, Content-Description,
	// Content-Transfer-Encoding, Content-MD5 and Content-Location; empty if
	// absent.
	ID, Description, Encoding, MD5, Location string
	// Disposition is the Content-Disposition value, lower-case, with its
	// parameters in DispositionParams; empty if absent.
	Disposition       string
	DispositionParams []Param
	// Language is the Content-Language list.
	Language []string

	HeaderOffset, BodyOffset, EndOffset int64
	// Lines is the number of lines of the body: its LF count, plus one when
	// it is non-empty and its last line has no line break.
	Lines int64
	// DecodedSize is the size of the body once its Content-Transfer-Encoding
	// is undone (BINARY.SIZE, RFC 3516); equal to Size for identity
	// encodings and for unknown ones.
	DecodedSize int64
	// UnknownEncoding is set when Encoding is none of 7bit, 8bit, binary,
	// base64, quoted-printable: BINARY must fail with UNKNOWN-CTE.
	UnknownEncoding bool

	// Children are the parts of a multipart (never empty for a multipart:
	// a multipart without any boundary gets one empty text/plain part).
	Children []*Part
	// Message is set for message/rfc822 and message/global parts: the
	// encapsulated message's envelope and its body (whose HeaderOffset is
	// this part's BodyOffset).
	Message *Embedded
}

// Embedded is an encapsulated message.
type Embedded struct {
	Envelope Envelope
	Body     *Part
}

// Size is the body's length in octets as stored (body-fld-octets).
func (p *Part) Size() int64 { return p.EndOffset - p.BodyOffset }

// IsMultipart reports whether p has children.
func (p *Part) IsMultipart() bool { return p.Type == "multipart" }

// Param returns the value of the named Content-Type parameter
// (case-insensitive name), or "".
func (p *Part) Param(name string) string { return paramValue(p.Params, name) }

// Charset is the charset parameter, "us-ascii" for text parts without one.
func (p *Part) Charset() string {
	if c := p.Param("charset"); c != "" {
		return c
	}
	return "us-ascii"
}

// EncodingName is the transfer encoding as sent in BODYSTRUCTURE: the
// header's value, or "7BIT" when there was none.
func (p *Part) EncodingName() string {
	if p.Encoding == "" {
		return "7BIT"
	}
	return p.Encoding
}

// SearchFields are the decoded header fields SEARCH and SORT use.
type SearchFields struct {
	// Subject is the Subject decoded from RFC 2047 to UTF-8.
	Subject string
	// From, To, Cc and Bcc are the decoded address lists, each address as
	// "Name <mailbox@host>" or "mailbox@host", joined by ", ".
	From, To, Cc, Bcc string
	// Date is the parsed Date field; zero when absent or unparseable.
	Date time.Time
	// MessageID and InReplyTo are the first msg-id of those fields,
	// with angle brackets; References lists the msg-ids of References.
	MessageID  string
	InReplyTo  string
	References []string
}
