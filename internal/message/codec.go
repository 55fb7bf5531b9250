package message

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Stored form of a Structure, version 3. Integers are unsigned varints
// (encoding/binary) unless said otherwise; a string is its length then its
// bytes; a list is its length then its elements.
//
//	byte     version (3)
//	uvarint  Size
//	envelope Envelope
//	uvarint  length of the search fields that follow
//	search   Search (version 3 form, below)
//	uvarint  length of the part tree that follows
//	part     Body (with token strings, below)
//
// The envelope comes first and the search fields and the part tree are
// announced by their lengths, so a reader takes the envelope alone
// (FETCH ENVELOPE), skips the search fields (FETCH BODYSTRUCTURE), and
// leaves the tree undecoded until a command needs it (DecodeShallow,
// UnmarshalShallow, Structure.Root). Nothing is compressed: a reader
// decodes it in place, and the two savings below keep it smaller than
// version 2 under zstd.
//
// envelope: string Date, Subject, InReplyTo, MessageID; byte flags (bit 0:
// Sender is From, bit 1: Reply-To is From); address lists From, [Sender],
// [ReplyTo], To, Cc, Bcc (Sender and ReplyTo only when their flag is clear).
//
// address: byte Kind; string Name, ADL, Mailbox, Host.
//
// search (version 3): byte mask, bit i set when field i equals what the
// envelope determines (searchFromEnvelope) and is cheap to derive
// (derivedCheaply; Marshal never sets bit 5): 0 Subject, 1 From, 2 To, 3 Cc,
// 4 Bcc, 5 Date, 6 MessageID, 7 InReplyTo; then each field whose bit is
// clear, in that order, as in version 2 (strings; Date as putTime); then
// list of string References. For a message parsed now whose header has no
// RFC 2047 word, only the Date and References are stored.
//
// part: tstring Type, Subtype; params Params; string ID, Description;
// tstring Encoding; string MD5, Location; tstring Disposition; params
// DispositionParams; list of string Language; uvarint HeaderOffset,
// BodyOffset-HeaderOffset, EndOffset-BodyOffset, Lines, DecodedSize; byte
// flags (bit 0: UnknownEncoding, bit 1: Message follows); list of part
// Children; if bit 1: envelope, part (the encapsulated message).
//
// params: list of (tstring Name, tstring Value).
//
// tstring: uvarint v; v odd: the string tokens[v>>1] (codec_tokens.go, the
// MIME vocabulary); v even: a string of v>>1 bytes, which follow.
//
// Version 2 (still read, and stored zstd-compressed by the embedded store
// before version 3) has the search fields without their length, in full
// (string Subject, From, To, Cc, Bcc; Date; string MessageID, InReplyTo;
// list of string References), and plain strings where version 3 has
// tstrings. Version 1 is version 2 without the tree's length and with the
// search fields after the part tree.
//
// Date (putTime): varint Unix seconds and varint zone offset in seconds,
// or the single varint 0 then 1<<62 for the zero time.
const codecVersion = 3

// CodecVersion is the version of the stored form Marshal writes: a
// structure held in another form was not made by this codec.
const CodecVersion = codecVersion

// codecV2 and codecV1 are earlier stored forms, still decoded.
const (
	codecV2 = 2
	codecV1 = 1
)

// Marshal encodes s for storage (the versioned binary form above). A part
// tree whose stored form would pass MaxStructureBytes is replaced by the
// top-level part alone, as an opaque leaf.
func (s *Structure) Marshal() ([]byte, error) {
	root := s.Root()
	if root == nil {
		return nil, errors.New("message: marshal: structure without body")
	}
	e := encoder{buf: make([]byte, 0, 512)}
	e.buf = append(e.buf, codecVersion)
	e.uvarint(uint64(s.Size))
	e.envelope(&s.Envelope)
	sf := encoder{}
	sf.searchV3(&s.Search, &s.Envelope)
	e.uvarint(uint64(len(sf.buf)))
	e.buf = append(e.buf, sf.buf...)
	var tree []byte
	if s.Body == nil && s.tree != nil && s.tree.tokens {
		tree = []byte(s.tree.raw)
	} else {
		t := encoder{buf: make([]byte, 0, 256), tokens: true}
		t.part(root)
		tree = t.buf
	}
	if len(e.buf)+len(tree) > MaxStructureBytes {
		t := encoder{tokens: true}
		t.part(opaqueLeaf(root))
		tree = t.buf
	}
	e.uvarint(uint64(len(tree)))
	e.buf = append(e.buf, tree...)
	return e.buf, nil
}

// opaqueLeaf is p without its children, kept as bytes.
func opaqueLeaf(p *Part) *Part {
	q := *p
	q.Children, q.Message = nil, nil
	if q.Type == "multipart" || q.Type == "message" {
		q.Type, q.Subtype, q.Params = "application", "octet-stream", nil
		q.DecodedSize = q.Size()
	}
	return &q
}

// Unmarshal decodes what Marshal produced, the part tree included.
func Unmarshal(b []byte) (*Structure, error) {
	s, err := unmarshal(b, false)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// UnmarshalShallow decodes the envelope and search fields of a stored
// structure and checks its part tree without building it: Body stays nil
// and Root builds the tree the first time a caller needs it. FETCH FLAGS,
// ENVELOPE or RFC822.SIZE and the quota checks read no tree at all. Stored
// forms older than version 2 are decoded whole.
func UnmarshalShallow(b []byte) (*Structure, error) {
	return unmarshal(b, true)
}

func unmarshal(b []byte, shallow bool) (*Structure, error) {
	s := new(Structure)
	if err := s.decode(string(b), shallow, DecodeAll, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// Decoding says what DecodeShallow takes from a stored structure.
type Decoding uint8

const (
	// DecodeEnvelope takes Size and Envelope: no search fields, no part
	// tree (Root is nil).
	DecodeEnvelope Decoding = iota
	// DecodeForFetch takes Size, Envelope and the part tree, not the
	// search fields (FETCH uses none).
	DecodeForFetch
	// DecodeAll takes everything.
	DecodeAll
	// DecodeTree takes Size and the part tree: no envelope (left empty),
	// no search fields. FETCH BODYSTRUCTURE, BODY[section] and BINARY
	// read no more.
	DecodeTree
)

// DecodeShallow is UnmarshalShallow into s, whose previous contents it
// replaces, decoding only what says, with every string cut from src (no
// copy): for a reader that decodes many stored structures read into one
// buffer.
func (s *Structure) DecodeShallow(src string, what Decoding) error {
	return s.decode(src, true, what, nil)
}

// DecodeInto is DecodeShallow building the part tree at once (with
// DecodeForFetch, DecodeTree or DecodeAll), in one walk of src, its parts,
// parameter lists and child lists taken from slab while it has room (the
// rest allocated): for a reader that will use every tree it decodes and
// reuses slab once it is done with them, it saves a walk and the
// allocations of each part.
func (s *Structure) DecodeInto(src string, what Decoding, slab *Slab) error {
	return s.decode(src, false, what, slab)
}

// Slab is room for the trees DecodeInto builds. Each slice is used up to
// its capacity, then DecodeInto allocates; Reset makes it empty again.
type Slab struct {
	Parts    []Part
	Params   []Param
	Children []*Part
}

// Reset empties the slab for another set of trees, dropping what the last
// ones referred to; it keeps at least parts parts, 2*parts parameters and
// parts child pointers of room.
func (sl *Slab) Reset(parts int) {
	clear(sl.Parts[:cap(sl.Parts)])
	clear(sl.Params[:cap(sl.Params)])
	clear(sl.Children[:cap(sl.Children)])
	sl.Parts = slices.Grow(sl.Parts[:0], parts)
	sl.Params = slices.Grow(sl.Params[:0], 2*parts)
	sl.Children = slices.Grow(sl.Children[:0], parts)
}

func (s *Structure) decode(src string, shallow bool, what Decoding, slab *Slab) error {
	*s = Structure{}
	if len(src) == 0 {
		return errors.New("message: unmarshal: empty input")
	}
	if src[0] == '{' {
		// The JSON form of early stores.
		if err := json.Unmarshal([]byte(src), s); err != nil {
			return fmt.Errorf("message: unmarshal: %w", err)
		}
		if s.Body != nil {
			s.Body = boundParts(s.Body)
		}
		return nil
	}
	version := src[0]
	d := decoder{src: src, pos: 1, tokens: version >= codecVersion, slab: slab}
	s.Size = int64(d.uvarint())
	if what == DecodeTree {
		d.skipEnvelope()
	} else {
		d.envelope(&s.Envelope)
	}
	if what == DecodeEnvelope && version <= codecVersion {
		if d.err != nil {
			return fmt.Errorf("message: unmarshal envelope: %w", d.err)
		}
		return nil
	}
	switch version {
	case codecV1:
		s.Body = d.part(0)
		d.search(&s.Search)
	case codecV2, codecVersion:
		switch {
		case version == codecV2 && what == DecodeAll:
			d.search(&s.Search)
		case version == codecV2:
			d.skipSearch()
		default:
			n := d.count()
			end := d.pos + n
			if what == DecodeAll {
				d.searchV3(&s.Search, &s.Envelope)
			}
			if d.err == nil && what == DecodeAll && d.pos != end {
				d.err = errCorrupt
			}
			d.pos = end
		}
		n := d.count()
		start := d.pos
		if shallow {
			d.skipPart(0)
			if d.err == nil && d.pos == start+n {
				s.tree = &lazyTree{raw: d.src[start:d.pos], tokens: d.tokens}
			}
		} else {
			s.Body = d.part(0)
			s.form, s.formV3 = d.src[start:d.pos], d.tokens
		}
		if d.err == nil && d.pos != start+n {
			d.err = errCorrupt
		}
	default:
		return fmt.Errorf("message: unmarshal: unknown version %d", version)
	}
	if d.err == nil && d.pos != len(d.src) {
		d.err = errCorrupt
	}
	if d.err != nil {
		return fmt.Errorf("message: unmarshal: %w", d.err)
	}
	return nil
}

// lazyTree is a stored part tree not yet decoded; it was checked when read,
// so decoding it cannot fail.
type lazyTree struct {
	raw    string
	tokens bool // version 3: tstrings
	once   sync.Once
	body   *Part
}

// Root is the message as a part: Body, or for a structure read with
// UnmarshalShallow the part tree, decoded on first use. It is safe for
// concurrent use.
func (s *Structure) Root() *Part {
	if s.Body != nil || s.tree == nil {
		return s.Body
	}
	t := s.tree
	t.once.Do(func() {
		d := decoder{src: t.raw, tokens: t.tokens}
		t.body = d.part(0)
	})
	return t.body
}

// TreeForm returns the stored form of the part tree s was decoded from
// and whether it is version 3's (tstrings), for a reader that keeps what
// it made of a tree by the stored bytes, which determine the tree
// exactly. It is "" for a structure that was parsed, or decoded from a
// form that keeps no tree apart (JSON, version 1), or whose tree did not
// decode.
func (s *Structure) TreeForm() (form string, v3 bool) {
	if s.tree != nil {
		return s.tree.raw, s.tree.tokens
	}
	if s.Body == nil {
		return "", false
	}
	return s.form, s.formV3
}

// boundParts drops, from a tree decoded from an early stored form, the
// parts past MaxParts (and MaxChildren in one multipart), so that reading
// a structure stored before those bounds existed costs no more than one
// parsed now.
func boundParts(root *Part) *Part {
	budget := MaxParts
	var walk func(p *Part)
	walk = func(p *Part) {
		budget--
		if len(p.Children) > MaxChildren {
			p.Children = p.Children[:MaxChildren]
		}
		for i, c := range p.Children {
			if budget <= 0 {
				p.Children = p.Children[:i]
				break
			}
			walk(c)
		}
		if p.Message != nil && p.Message.Body != nil {
			if budget <= 0 {
				p.Message.Body = &Part{Type: "text", Subtype: "plain",
					HeaderOffset: p.BodyOffset, BodyOffset: p.BodyOffset, EndOffset: p.BodyOffset}
			} else {
				walk(p.Message.Body)
			}
		}
	}
	walk(root)
	return root
}

// UnmarshalEnvelope decodes only the envelope of a stored structure, which
// comes first in the stored form: FETCH ENVELOPE without the part tree.
func UnmarshalEnvelope(b []byte) (Envelope, error) {
	var env Envelope
	if len(b) == 0 || b[0] < codecV1 || b[0] > codecVersion {
		s, err := Unmarshal(b)
		if err != nil {
			return env, err
		}
		return s.Envelope, nil
	}
	d := decoder{src: string(b), pos: 1}
	d.uvarint()
	d.envelope(&env)
	if d.err != nil {
		return Envelope{}, fmt.Errorf("message: unmarshal envelope: %w", d.err)
	}
	return env, nil
}

type encoder struct {
	buf    []byte
	tokens bool // write tstrings (version 3); plain strings otherwise
}

func (e *encoder) uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }
func (e *encoder) varint(v int64)   { e.buf = binary.AppendVarint(e.buf, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.buf = append(e.buf, s...) }

// tstr writes a tstring: a token's number, or the string.
func (e *encoder) tstr(s string) {
	if !e.tokens {
		e.str(s)
		return
	}
	if i, ok := tokenIndex[s]; ok {
		e.uvarint(uint64(i)<<1 | 1)
		return
	}
	e.uvarint(uint64(len(s)) << 1)
	e.buf = append(e.buf, s...)
}

func (e *encoder) params(ps []Param) {
	e.uvarint(uint64(len(ps)))
	for _, p := range ps {
		e.tstr(p.Name)
		e.tstr(p.Value)
	}
}

func (e *encoder) addresses(as []Address) {
	e.uvarint(uint64(len(as)))
	for _, a := range as {
		e.buf = append(e.buf, byte(a.Kind))
		e.str(a.Name)
		e.str(a.ADL)
		e.str(a.Mailbox)
		e.str(a.Host)
	}
}

func sameAddresses(a, b []Address) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (e *encoder) envelope(v *Envelope) {
	e.str(v.Date)
	e.str(v.Subject)
	e.str(v.InReplyTo)
	e.str(v.MessageID)
	var flags byte
	if sameAddresses(v.Sender, v.From) {
		flags |= 1
	}
	if sameAddresses(v.ReplyTo, v.From) {
		flags |= 2
	}
	e.buf = append(e.buf, flags)
	e.addresses(v.From)
	if flags&1 == 0 {
		e.addresses(v.Sender)
	}
	if flags&2 == 0 {
		e.addresses(v.ReplyTo)
	}
	e.addresses(v.To)
	e.addresses(v.Cc)
	e.addresses(v.Bcc)
}

func (e *encoder) part(p *Part) {
	e.tstr(p.Type)
	e.tstr(p.Subtype)
	e.params(p.Params)
	e.str(p.ID)
	e.str(p.Description)
	e.tstr(p.Encoding)
	e.str(p.MD5)
	e.str(p.Location)
	e.tstr(p.Disposition)
	e.params(p.DispositionParams)
	e.uvarint(uint64(len(p.Language)))
	for _, l := range p.Language {
		e.str(l)
	}
	e.uvarint(uint64(p.HeaderOffset))
	e.uvarint(uint64(p.BodyOffset - p.HeaderOffset))
	e.uvarint(uint64(p.EndOffset - p.BodyOffset))
	e.uvarint(uint64(p.Lines))
	e.uvarint(uint64(p.DecodedSize))
	var flags byte
	if p.UnknownEncoding {
		flags |= 1
	}
	if p.Message != nil {
		flags |= 2
	}
	e.buf = append(e.buf, flags)
	e.uvarint(uint64(len(p.Children)))
	for _, c := range p.Children {
		e.part(c)
	}
	if p.Message != nil {
		e.envelope(&p.Message.Envelope)
		e.part(p.Message.Body)
	}
}

// zeroTimeMark stands for the zero time in the zone-offset slot.
const zeroTimeMark = 1 << 62

func (e *encoder) putTime(t time.Time) {
	if t.IsZero() {
		e.varint(0)
		e.varint(zeroTimeMark)
		return
	}
	_, off := t.Zone()
	e.varint(t.Unix())
	e.varint(int64(off))
}

func (e *encoder) search(s *SearchFields) {
	e.str(s.Subject)
	e.str(s.From)
	e.str(s.To)
	e.str(s.Cc)
	e.str(s.Bcc)
	e.putTime(s.Date)
	e.str(s.MessageID)
	e.str(s.InReplyTo)
	e.uvarint(uint64(len(s.References)))
	for _, r := range s.References {
		e.str(r)
	}
}

// searchV3 writes the search fields in the version 3 form: the mask of
// fields the envelope determines, the others, References. A field is left
// to be derived only when deriving it is cheap (derivedCheaply), so that
// a whole read (Messages, for SEARCH and SORT) costs about what reading it
// stored would.
func (e *encoder) searchV3(s *SearchFields, env *Envelope) {
	d := searchFromEnvelope(env)
	var mask byte
	for i, same := range [8]bool{s.Subject == d.Subject, s.From == d.From, s.To == d.To, s.Cc == d.Cc, s.Bcc == d.Bcc,
		false, s.MessageID == d.MessageID, s.InReplyTo == d.InReplyTo} {
		if same && derivedCheaply(env, i) {
			mask |= 1 << i
		}
	}
	e.buf = append(e.buf, mask)
	for i, v := range [5]string{s.Subject, s.From, s.To, s.Cc, s.Bcc} {
		if mask&(1<<i) == 0 {
			e.str(v)
		}
	}
	if mask&(1<<5) == 0 {
		e.putTime(s.Date)
	}
	if mask&(1<<6) == 0 {
		e.str(s.MessageID)
	}
	if mask&(1<<7) == 0 {
		e.str(s.InReplyTo)
	}
	e.uvarint(uint64(len(s.References)))
	for _, r := range s.References {
		e.str(r)
	}
}

// derivedCheaply reports whether search field i (the mask's numbering)
// comes from env without decoding: no RFC 2047 word and nothing but UTF-8
// in what it is made of. The Date (bit 5) is always stored: parsing it
// costs more than its bytes save.
func derivedCheaply(env *Envelope, i int) bool {
	plain := func(v string) bool { return !strings.Contains(v, "=?") && utf8.ValidString(v) }
	plainList := func(as []Address) bool {
		for _, a := range as {
			if !plain(a.Name) || !plain(a.Mailbox) || !plain(a.Host) {
				return false
			}
		}
		return true
	}
	switch i {
	case 0:
		return plain(env.Subject)
	case 1:
		return plainList(env.From)
	case 2:
		return plainList(env.To)
	case 3:
		return plainList(env.Cc)
	case 4:
		return plainList(env.Bcc)
	case 5:
		return false
	}
	return true
}

// sameTime reports whether two dates are the same instant in the same
// zone offset, or both the zero time.
func sameTime(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() == b.IsZero()
	}
	_, ao := a.Zone()
	_, bo := b.Zone()
	return a.Equal(b) && ao == bo
}

// decoder reads the stored form. Strings are cut from one copy of the
// input, so decoding allocates little beyond the parts themselves. The
// first error sticks and zero values are returned after it.
type decoder struct {
	src    string
	pos    int
	err    error
	parts  int  // parts built so far; past MaxParts the rest is skipped
	tokens bool // version 3: tstrings where the part tree has them
	// slab, when set, gives the parts and their lists while it has room
	// (DecodeInto).
	slab *Slab
}

// newPart returns a zero part, from the slab while it has room.
func (d *decoder) newPart() *Part {
	if d.slab != nil {
		if sl := d.slab.Parts; len(sl) < cap(sl) {
			d.slab.Parts = sl[:len(sl)+1]
			p := &d.slab.Parts[len(sl)]
			*p = Part{}
			return p
		}
	}
	return &Part{}
}

// take returns n elements cut from *from while it has room, with no room
// past them (an append to them cannot reach the next), else new ones.
func take[T any](from *[]T, n int) []T {
	if sl := *from; cap(sl)-len(sl) >= n {
		*from = sl[:len(sl)+n]
		return sl[len(sl) : len(sl)+n : len(sl)+n]
	}
	return make([]T, n)
}

var errCorrupt = errors.New("corrupt structure")

// maxDecodeDepth bounds recursion on corrupt input; Parse never nests parts
// deeper than 2*MaxDepth+1 (parts and encapsulated messages alternate).
const maxDecodeDepth = 2*MaxDepth + 4

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.pos = len(d.src)
}

func (d *decoder) uvarint() uint64 {
	var v uint64
	var shift uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if d.pos >= len(d.src) {
			d.fail()
			return 0
		}
		c := d.src[d.pos]
		d.pos++
		if c < 0x80 {
			return v | uint64(c)<<shift
		}
		v |= uint64(c&0x7f) << shift
		shift += 7
	}
	d.fail()
	return 0
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

func (d *decoder) byte1() byte {
	if d.pos >= len(d.src) {
		d.fail()
		return 0
	}
	c := d.src[d.pos]
	d.pos++
	return c
}

func (d *decoder) str() string { return d.bytes(d.uvarint()) }

// bytes reads the next n bytes of input as a string.
func (d *decoder) bytes(n uint64) string {
	if n > uint64(len(d.src)-d.pos) {
		d.fail()
		return ""
	}
	s := d.src[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return s
}

// tstr reads a tstring (a plain string before version 3).
func (d *decoder) tstr() string {
	if !d.tokens {
		return d.str()
	}
	v := d.uvarint()
	if v&1 != 0 {
		if v>>1 >= uint64(len(tokens)) {
			d.fail()
			return ""
		}
		return tokens[v>>1]
	}
	return d.bytes(v >> 1)
}

// count reads a list length, checking that it cannot exceed the remaining
// input (every element takes at least one byte).
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.src)-d.pos) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) params() []Param {
	n := d.count()
	if n == 0 {
		return nil
	}
	var ps []Param
	if d.slab != nil {
		ps = take(&d.slab.Params, n)
	} else {
		ps = make([]Param, n)
	}
	for i := range ps {
		ps[i].Name = d.tstr()
		ps[i].Value = d.tstr()
	}
	return ps
}

func (d *decoder) addresses() []Address {
	n := d.count()
	if n == 0 {
		return nil
	}
	as := make([]Address, n)
	for i := range as {
		as[i].Kind = AddressKind(d.byte1())
		as[i].Name = d.str()
		as[i].ADL = d.str()
		as[i].Mailbox = d.str()
		as[i].Host = d.str()
	}
	return as
}

func (d *decoder) envelope(v *Envelope) {
	v.Date = d.str()
	v.Subject = d.str()
	v.InReplyTo = d.str()
	v.MessageID = d.str()
	flags := d.byte1()
	v.From = d.addresses()
	v.Sender, v.ReplyTo = v.From, v.From
	if flags&1 == 0 {
		v.Sender = d.addresses()
	}
	if flags&2 == 0 {
		v.ReplyTo = d.addresses()
	}
	v.To = d.addresses()
	v.Cc = d.addresses()
	v.Bcc = d.addresses()
}

func (d *decoder) part(depth int) *Part {
	if depth > maxDecodeDepth {
		d.fail()
		return &Part{}
	}
	p := d.newPart()
	p.Type = d.tstr()
	p.Subtype = d.tstr()
	p.Params = d.params()
	p.ID = d.str()
	p.Description = d.str()
	p.Encoding = d.tstr()
	p.MD5 = d.str()
	p.Location = d.str()
	p.Disposition = d.tstr()
	p.DispositionParams = d.params()
	if n := d.count(); n > 0 {
		p.Language = make([]string, n)
		for i := range p.Language {
			p.Language[i] = d.str()
		}
	}
	p.HeaderOffset = int64(d.uvarint())
	p.BodyOffset = p.HeaderOffset + int64(d.uvarint())
	p.EndOffset = p.BodyOffset + int64(d.uvarint())
	p.Lines = int64(d.uvarint())
	p.DecodedSize = int64(d.uvarint())
	flags := d.byte1()
	p.UnknownEncoding = flags&1 != 0
	d.parts++
	// Structures stored before the bounds of Parse existed may hold any
	// number of parts: build at most MaxParts, MaxChildren in one
	// multipart, and skip the rest.
	if n := d.count(); n > 0 {
		if d.slab != nil {
			p.Children = take(&d.slab.Children, min(n, MaxChildren))[:0]
		} else {
			p.Children = make([]*Part, 0, min(n, MaxChildren))
		}
		for i := 0; i < n; i++ {
			if i >= MaxChildren || d.parts >= MaxParts {
				d.skipPart(depth + 1)
				continue
			}
			p.Children = append(p.Children, d.part(depth+1))
		}
	}
	if flags&2 != 0 {
		p.Message = &Embedded{}
		d.envelope(&p.Message.Envelope)
		if d.parts >= MaxParts {
			d.skipPart(depth + 1)
			p.Message.Body = &Part{Type: "text", Subtype: "plain",
				HeaderOffset: p.BodyOffset, BodyOffset: p.BodyOffset, EndOffset: p.BodyOffset}
		} else {
			p.Message.Body = d.part(depth + 1)
		}
	}
	return p
}

// skipPart reads past a part as part does, building nothing.
func (d *decoder) skipPart(depth int) {
	if depth > maxDecodeDepth {
		d.fail()
		return
	}
	d.tstr() // Type
	d.tstr() // Subtype
	d.skipParams()
	d.str()  // ID
	d.str()  // Description
	d.tstr() // Encoding
	d.str()  // MD5
	d.str()  // Location
	d.tstr() // Disposition
	d.skipParams()
	for n := d.count(); n > 0 && d.err == nil; n-- {
		d.str()
	}
	for range 5 {
		d.uvarint()
	}
	flags := d.byte1()
	for n := d.count(); n > 0 && d.err == nil; n-- {
		d.skipPart(depth + 1)
	}
	if flags&2 != 0 {
		d.skipEnvelope()
		d.skipPart(depth + 1)
	}
}

func (d *decoder) skipParams() {
	for n := d.count(); n > 0 && d.err == nil; n-- {
		d.tstr()
		d.tstr()
	}
}

func (d *decoder) skipAddresses() {
	for n := d.count(); n > 0 && d.err == nil; n-- {
		d.byte1()
		for range 4 {
			d.str()
		}
	}
}

func (d *decoder) skipEnvelope() {
	for range 4 {
		d.str()
	}
	flags := d.byte1()
	d.skipAddresses()
	if flags&1 == 0 {
		d.skipAddresses()
	}
	if flags&2 == 0 {
		d.skipAddresses()
	}
	for range 3 {
		d.skipAddresses()
	}
}

func (d *decoder) search(s *SearchFields) {
	s.Subject = d.str()
	s.From = d.str()
	s.To = d.str()
	s.Cc = d.str()
	s.Bcc = d.str()
	sec, off := d.varint(), d.varint()
	if off != zeroTimeMark && d.err == nil {
		s.Date = time.Unix(sec, 0).In(time.FixedZone("", int(off)))
	}
	s.MessageID = d.str()
	s.InReplyTo = d.str()
	if n := d.count(); n > 0 {
		s.References = make([]string, n)
		for i := range s.References {
			s.References[i] = d.str()
		}
	}
}

// searchV3 reads the version 3 form of the search fields of a structure
// whose envelope is env, deriving only the fields the mask marks.
func (d *decoder) searchV3(s *SearchFields, env *Envelope) {
	mask := d.byte1()
	for i, f := range [5]*string{&s.Subject, &s.From, &s.To, &s.Cc, &s.Bcc} {
		if mask&(1<<i) == 0 {
			*f = d.str()
		}
	}
	if mask&1 != 0 && env.Subject != "" {
		s.Subject = DecodeHeader(env.Subject)
	}
	for i, as := range [4][]Address{env.From, env.To, env.Cc, env.Bcc} {
		if mask&(2<<i) != 0 {
			*[4]*string{&s.From, &s.To, &s.Cc, &s.Bcc}[i] = FormatAddresses(as)
		}
	}
	if mask&(1<<5) == 0 {
		sec, off := d.varint(), d.varint()
		if off != zeroTimeMark && d.err == nil {
			s.Date = time.Unix(sec, 0).In(time.FixedZone("", int(off)))
		}
	} else if env.Date != "" {
		s.Date = ParseDate(env.Date)
	}
	if mask&(1<<6) == 0 {
		s.MessageID = d.str()
	} else if s.MessageID = firstMessageID(env.MessageID); s.MessageID == "" {
		s.MessageID = env.MessageID
	}
	if mask&(1<<7) == 0 {
		s.InReplyTo = d.str()
	} else {
		s.InReplyTo = firstMessageID(env.InReplyTo)
	}
	if n := d.count(); n > 0 {
		s.References = make([]string, n)
		for i := range s.References {
			s.References[i] = d.str()
		}
	}
}

// skipSearch reads past version 2 search fields, building nothing.
func (d *decoder) skipSearch() {
	for range 5 {
		d.str()
	}
	d.varint()
	d.varint()
	d.str()
	d.str()
	for n := d.count(); n > 0 && d.err == nil; n-- {
		d.str()
	}
}
