package server

import (
	"strconv"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// fetchKind is one FETCH data item (RFC 9051 6.4.5, RFC 3516, RFC 7162,
// RFC 8474, RFC 8514).
type fetchKind uint8

const (
	fetchUID fetchKind = iota
	fetchFlags
	fetchModSeq
	fetchInternalDate
	fetchSize
	fetchSaveDate
	fetchEmailID
	fetchThreadID
	fetchEnvelope
	fetchBody          // BODY: BODYSTRUCTURE without extension data
	fetchBodyStructure // BODYSTRUCTURE
	fetchSection       // BODY[...], BODY.PEEK[...], RFC822, RFC822.HEADER, RFC822.TEXT
	fetchBinary        // BINARY[...], BINARY.PEEK[...]
	fetchBinarySize    // BINARY.SIZE[...]
	fetchPreview       // PREVIEW, PREVIEW (LAZY) (RFC 8970; fetch_preview.go)
)

// fetchItem is one parsed data item of a FETCH command.
type fetchItem struct {
	kind fetchKind
	// name is how the item is labelled in the response: "FLAGS",
	// "BODY[1.HEADER.FIELDS (From)]", "RFC822.TEXT"... For partial
	// fetches the origin ("<0>") is appended when writing.
	name string
	spec message.SectionSpec // fetchSection; Part only for the binary kinds
	// partial is set for "<start.count>".
	partial      bool
	start, count int64
	// seen is set for items that set \Seen (the non-PEEK body forms).
	seen bool
	// lazy is PREVIEW's LAZY modifier (RFC 8970 4.1).
	lazy bool
}

// fetchRequest is a parsed FETCH or UID FETCH.
type fetchRequest struct {
	set   wire.SeqSet
	items []fetchItem
	// has records which kinds were asked for, as a bit set over fetchKind.
	has uint32
	// changedSince is the CHANGEDSINCE modifier (RFC 7162 3.1.4.1), 0 if
	// absent; vanished is the VANISHED modifier (RFC 7162 3.2.6).
	changedSince store.ModSeq
	vanished     bool
	// partial is the PARTIAL modifier (RFC 9394 3.3), nil if absent.
	partial *partialRange
}

func (r *fetchRequest) wants(k fetchKind) bool { return r.has&(1<<k) != 0 }

// add appends an item unless the same one was asked for already.
func (r *fetchRequest) add(it fetchItem) {
	for _, o := range r.items {
		if o.name == it.name && o.partial == it.partial && o.start == it.start && o.count == it.count {
			return
		}
	}
	r.items = append(r.items, it)
	r.has |= 1 << it.kind
}

// onlyStates reports whether every item asked for is part of a message's
// state (UID, FLAGS, MODSEQ), so that FETCH can be answered without
// reading message data.
func (r *fetchRequest) onlyStates() bool {
	return r.has&^(1<<fetchUID|1<<fetchFlags|1<<fetchModSeq) == 0
}

// needsBlob reports whether the message bytes must be read.
func (r *fetchRequest) needsBlob() bool {
	return r.has&(1<<fetchSection|1<<fetchBinary) != 0
}

// fields returns what of the stored messages the items need beyond the
// columns every read returns.
func (r *fetchRequest) fields() store.Fields {
	var f store.Fields
	if r.wants(fetchEnvelope) {
		f |= store.FieldEnvelope
	}
	if r.has&(1<<fetchBody|1<<fetchBodyStructure|1<<fetchBinary|1<<fetchBinarySize|1<<fetchPreview) != 0 {
		f |= store.FieldStructure
	}
	for i := range r.items {
		if it := &r.items[i]; it.kind == fetchSection && !wholeMessage(it.spec) {
			f |= store.FieldStructure
		} else if it.kind == fetchSection {
			f |= store.FieldSize
		}
	}
	if r.wants(fetchPreview) {
		f |= store.FieldPreview
	}
	if r.needsBlob() {
		f |= store.FieldBody
	}
	if r.has&(1<<fetchInternalDate|1<<fetchSaveDate) != 0 {
		f |= store.FieldDates
	}
	if r.wants(fetchSize) {
		f |= store.FieldSize
	}
	if r.has&(1<<fetchEmailID|1<<fetchThreadID) != 0 {
		f |= store.FieldIDs
	}
	return f
}

// wholeMessage reports whether a section is the whole message (BODY[],
// RFC822): its bytes are the stored bytes, of the stored size, so no part
// tree needs reading.
func wholeMessage(spec message.SectionSpec) bool {
	return len(spec.Part) == 0 && spec.Specifier == message.SpecNone
}

// setsSeen reports whether an item sets \Seen.
func (r *fetchRequest) setsSeen() bool {
	for _, it := range r.items {
		if it.seen {
			return true
		}
	}
	return false
}

// simpleItems are the data items that are a bare keyword.
var simpleItems = map[string]fetchKind{
	"UID":           fetchUID,
	"FLAGS":         fetchFlags,
	"MODSEQ":        fetchModSeq,
	"INTERNALDATE":  fetchInternalDate,
	"RFC822.SIZE":   fetchSize,
	"SAVEDATE":      fetchSaveDate,
	"EMAILID":       fetchEmailID,
	"THREADID":      fetchThreadID,
	"ENVELOPE":      fetchEnvelope,
	"BODY":          fetchBody,
	"BODYSTRUCTURE": fetchBodyStructure,
}

// macros are ALL, FAST and FULL (RFC 9051 6.4.5).
var macros = map[string][]string{
	"ALL":  {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"},
	"FAST": {"FLAGS", "INTERNALDATE", "RFC822.SIZE"},
	"FULL": {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"},
}

// readFetch parses the arguments of FETCH after the command name:
//
//	SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
//	   "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]
func readFetch(d *wire.Decoder, uid bool) (*fetchRequest, error) {
	r := &fetchRequest{}
	if err := d.SP(); err != nil {
		return nil, err
	}
	set, err := d.SeqSet()
	if err != nil {
		return nil, err
	}
	r.set = set
	if err := d.SP(); err != nil {
		return nil, err
	}
	if c, err := d.Peek(); err == nil && c == '(' {
		if err := d.List(func() error { return readFetchAtt(d, r) }); err != nil {
			return nil, err
		}
		if len(r.items) == 0 {
			return nil, Bad("", "FETCH needs at least one data item")
		}
	} else {
		if err := readFetchAtt(d, r); err != nil {
			return nil, err
		}
	}
	if d.Special(' ') {
		if err := d.List(func() error { return readFetchModifier(d, r, uid) }); err != nil {
			return nil, err
		}
		if r.vanished && r.changedSince == 0 {
			return nil, Bad("", "VANISHED needs CHANGEDSINCE") // RFC 7162 3.2.6
		}
	}
	return r, nil
}

// readFetchModifier reads one fetch-modifier (RFC 4466 2.4, RFC 7162).
func readFetchModifier(d *wire.Decoder, r *fetchRequest, uid bool) error {
	name, err := d.Atom()
	if err != nil {
		return err
	}
	switch strings.ToUpper(name) {
	case "CHANGEDSINCE":
		if err := d.SP(); err != nil {
			return err
		}
		n, err := d.Number64()
		if err != nil {
			return err
		}
		if n == 0 {
			return Bad("", "CHANGEDSINCE needs a non-zero mod-sequence") // RFC 7162 7: mod-sequence-value
		}
		r.changedSince = store.ModSeq(n)
		return nil
	case "PARTIAL":
		if r.partial != nil {
			return Bad("", "PARTIAL given twice")
		}
		p, err := readPartialRange(d)
		if err != nil {
			return err
		}
		r.partial = &p
		return nil
	case "VANISHED":
		if !uid {
			return Bad("", "VANISHED is only allowed with UID FETCH") // RFC 7162 3.2.6
		}
		r.vanished = true
		return nil
	}
	return Bad("", "Unknown FETCH modifier "+name)
}

// readFetchAtt reads one fetch-att or macro.
func readFetchAtt(d *wire.Decoder, r *fetchRequest) error {
	name, err := d.AtomStop("[")
	if err != nil {
		return err
	}
	up := strings.ToUpper(name)
	if c, err := d.Peek(); err != nil || c != '[' {
		if up == "PREVIEW" {
			return readPreview(d, r)
		}
		if k, ok := simpleItems[up]; ok {
			r.add(fetchItem{kind: k, name: up})
			return nil
		}
		if m, ok := macros[up]; ok {
			for _, n := range m {
				r.add(fetchItem{kind: simpleItems[n], name: n})
			}
			return nil
		}
		// The IMAP4rev1 message items (RFC 3501 6.4.5), deprecated by
		// IMAP4rev2 (RFC 9051 appendix E item 18) but still accepted
		// from both: they are plain aliases of BODY[] forms.
		switch up {
		case "RFC822":
			r.add(fetchItem{kind: fetchSection, name: up, seen: true})
			return nil
		case "RFC822.HEADER":
			r.add(fetchItem{kind: fetchSection, name: up, spec: message.SectionSpec{Specifier: message.SpecHeader}})
			return nil
		case "RFC822.TEXT":
			r.add(fetchItem{kind: fetchSection, name: up, spec: message.SectionSpec{Specifier: message.SpecText}, seen: true})
			return nil
		}
		return Bad("", "Unknown FETCH data item "+name)
	}
	d.Special('[')
	var it fetchItem
	switch up {
	case "BODY", "BODY.PEEK":
		it.kind = fetchSection
		it.seen = up == "BODY"
		spec, text, err := readSection(d)
		if err != nil {
			return err
		}
		it.spec = spec
		it.name = "BODY[" + text + "]"
	case "BINARY", "BINARY.PEEK", "BINARY.SIZE":
		it.kind = fetchBinary
		it.seen = up == "BINARY"
		if up == "BINARY.SIZE" {
			it.kind = fetchBinarySize
		}
		part, text, err := readSectionPart(d)
		if err != nil {
			return err
		}
		if strings.HasSuffix(text, ".") {
			return Bad("", "BINARY takes only a part number") // RFC 9051 section-binary
		}
		if err := d.ExpectSpecial(']'); err != nil {
			return err
		}
		it.spec.Part = part
		prefix := "BINARY["
		if it.kind == fetchBinarySize {
			prefix = "BINARY.SIZE["
		}
		it.name = prefix + text + "]"
	default:
		return Bad("", "Unknown FETCH data item "+name+"[")
	}
	if it.kind != fetchBinarySize && d.Special('<') {
		// partial = "<" number64 "." nz-number64 ">"
		start, err := d.Number64()
		if err != nil {
			return err
		}
		if err := d.ExpectSpecial('.'); err != nil {
			return err
		}
		count, err := d.Number64()
		if err != nil {
			return err
		}
		if count == 0 {
			return Bad("", "A partial fetch needs a non-zero length")
		}
		if err := d.ExpectSpecial('>'); err != nil {
			return err
		}
		it.partial, it.start, it.count = true, int64(start), int64(count)
	}
	r.add(it)
	return nil
}

// readSectionPart reads an optional section-part ("1.2.3") and stops
// before ']' or before the "." that introduces a section-text. It returns
// the numbers and their text.
func readSectionPart(d *wire.Decoder) ([]int, string, error) {
	var part []int
	var sb strings.Builder
	for {
		c, err := d.Peek()
		if err != nil {
			return nil, "", err
		}
		if c < '0' || c > '9' {
			return part, sb.String(), nil
		}
		n, err := d.NzNumber()
		if err != nil {
			return nil, "", err
		}
		if len(part) >= message.MaxDepth {
			return nil, "", Bad("", "Section part number too deep")
		}
		part = append(part, int(n))
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(strconv.FormatUint(uint64(n), 10))
		if !d.Special('.') {
			return part, sb.String(), nil
		}
		if c, err := d.Peek(); err == nil && (c < '0' || c > '9') {
			// "1.HEADER": the dot belongs to the section-text.
			sb.WriteByte('.')
			return part, sb.String(), nil
		}
	}
}

// readSection reads a section-spec and its closing ']' (the '[' is read):
//
//	section-spec = section-msgtext / (section-part ["." section-text])
//	section-text = section-msgtext / "MIME"
//
// It returns the spec and its text for the response label.
func readSection(d *wire.Decoder) (message.SectionSpec, string, error) {
	var spec message.SectionSpec
	part, text, err := readSectionPart(d)
	if err != nil {
		return spec, "", err
	}
	spec.Part = part
	dotted := strings.HasSuffix(text, ".")
	if d.Special(']') {
		if dotted {
			return spec, "", Bad("", "Section ends with a dot")
		}
		return spec, text, nil
	}
	if len(part) > 0 && !dotted {
		return spec, "", Bad("", "Invalid section")
	}
	word, err := d.AtomStop("[")
	if err != nil {
		return spec, "", err
	}
	up := strings.ToUpper(word)
	var sb strings.Builder
	sb.WriteString(text)
	sb.WriteString(up)
	switch up {
	case "HEADER":
		spec.Specifier = message.SpecHeader
	case "TEXT":
		spec.Specifier = message.SpecText
	case "MIME":
		if len(part) == 0 {
			return spec, "", Bad("", "MIME needs a part number") // RFC 9051 6.4.5
		}
		spec.Specifier = message.SpecMIME
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		spec.Specifier = message.SpecHeaderFields
		if up == "HEADER.FIELDS.NOT" {
			spec.Specifier = message.SpecHeaderFieldsNot
		}
		if err := d.SP(); err != nil {
			return spec, "", err
		}
		sb.WriteString(" (")
		err := d.List(func() error {
			f, err := d.Astring()
			if err != nil {
				return err
			}
			if !validFieldName(f) {
				return Bad("", "Invalid header field name")
			}
			if len(spec.Fields) > 0 {
				sb.WriteByte(' ')
			}
			spec.Fields = append(spec.Fields, f)
			writeAstringTo(&sb, f)
			return nil
		})
		if err != nil {
			return spec, "", err
		}
		if len(spec.Fields) == 0 {
			return spec, "", Bad("", "HEADER.FIELDS needs at least one field name")
		}
		sb.WriteByte(')')
	default:
		return spec, "", Bad("", "Unknown section "+word)
	}
	if err := d.ExpectSpecial(']'); err != nil {
		return spec, "", err
	}
	return spec, sb.String(), nil
}

// validFieldName reports whether f is an RFC 5322 field name: printable
// ASCII except ':'.
func validFieldName(f string) bool {
	if f == "" {
		return false
	}
	for i := 0; i < len(f); i++ {
		if f[i] < 33 || f[i] > 126 || f[i] == ':' {
			return false
		}
	}
	return true
}

// writeAstringTo appends s to a response label as an atom when it is one
// and as a quoted string otherwise (header field names are printable
// ASCII, so no literal is ever needed).
func writeAstringTo(sb *strings.Builder, s string) {
	atom := !strings.EqualFold(s, "NIL")
	for i := 0; i < len(s); i++ {
		if !wire.IsAstringChar(s[i]) {
			atom = false
		}
	}
	if atom {
		sb.WriteString(s)
		return
	}
	sb.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			sb.WriteByte('\\')
		}
		sb.WriteByte(s[i])
	}
	sb.WriteByte('"')
}
