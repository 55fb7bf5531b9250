package server

import (
	"bufio"
	"bytes"
	"strings"
	"sync"

	"github.com/tidemark-mail/tidemark/internal/gencache"
	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// structureRenders keeps BODY and BODYSTRUCTURE as they were written, by
// the stored form of the part tree they were written from (which
// determines them, with ext and the client's UTF-8 mode): writing them
// was the largest part of FETCH BODYSTRUCTURE's CPU (a call into the
// encoder, a quoting check and an upper-casing for each of some forty
// fields of a message), and a client reading the same messages again
// gets the bytes of the first time. The value is a function of the key
// alone, so an entry is never stale and the cache is shared by every
// session, bounded as a whole (package gencache).
var structureRenders = gencache.Cache[renderKey, string]{
	Max:  16 << 20,
	Size: func(k renderKey, r string) int { return len(k.tree) + len(r) + 64 },
}

type renderKey struct {
	tree          string
	v3, ext, utf8 bool
}

// renderers are encoders writing into a buffer, for writeStructure.
var renderers = sync.Pool{New: func() any {
	r := &renderer{}
	r.e = wire.NewEncoder(bufio.NewWriterSize(&r.buf, 4096))
	return r
}}

type renderer struct {
	buf bytes.Buffer
	e   *wire.Encoder
}

// writeStructure writes BODY (ext false) or BODYSTRUCTURE (ext true) of
// st: the bytes written before for the same stored tree when there are
// some (structureRenders), else writeBodyStructure's, kept for the next
// time.
func writeStructure(e *wire.Encoder, st *message.Structure, ext bool) {
	tree, v3 := st.TreeForm()
	if tree == "" {
		writeBodyStructure(e, st.Root(), ext, e.UTF8)
		return
	}
	k := renderKey{tree: tree, v3: v3, ext: ext, utf8: e.UTF8}
	if r, ok := structureRenders.Get(k); ok {
		e.Raw(r)
		return
	}
	rd := renderers.Get().(*renderer)
	defer renderers.Put(rd)
	rd.buf.Reset()
	rd.e.UTF8 = e.UTF8
	writeBodyStructure(rd.e, st.Root(), ext, e.UTF8)
	rd.e.Flush() // into memory: cannot fail
	r := rd.buf.String()
	k.tree = strings.Clone(tree) // not the page's buffer it was cut from
	structureRenders.Put(k, r)
	e.Raw(r)
}

// nstring writes s, or NIL when it is empty: the envelope and body
// structure keep absent fields as empty strings.
func nstring(e *wire.Encoder, s string) {
	if s == "" {
		e.NIL()
		return
	}
	e.String(s)
}

// writeEnvelope writes an ENVELOPE (RFC 9051 7.5.2):
//
//	"(" env-date SP env-subject SP env-from SP env-sender SP env-reply-to
//	SP env-to SP env-cc SP env-bcc SP env-in-reply-to SP env-message-id ")"
func writeEnvelope(e *wire.Encoder, env *message.Envelope) {
	e.Special('(')
	nstring(e, env.Date)
	e.SP()
	nstring(e, env.Subject)
	for _, list := range [...][]message.Address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
		e.SP()
		writeAddresses(e, list)
	}
	e.SP()
	nstring(e, env.InReplyTo)
	e.SP()
	nstring(e, env.MessageID)
	e.Special(')')
}

// writeAddresses writes an address list, NIL when empty. Group markers
// come out as (NIL NIL "group" NIL) and (NIL NIL NIL NIL) because their
// empty fields are NIL.
func writeAddresses(e *wire.Encoder, as []message.Address) {
	if len(as) == 0 {
		e.NIL()
		return
	}
	e.Special('(')
	for _, a := range as {
		// address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"
		e.Special('(')
		nstring(e, a.Name)
		e.SP()
		nstring(e, a.ADL)
		e.SP()
		nstring(e, a.Mailbox)
		e.SP()
		nstring(e, a.Host)
		e.Special(')')
	}
	e.Special(')')
}

// writeBodyStructure writes BODY (ext false) or BODYSTRUCTURE (ext true)
// of a part, following RFC 9051 9 body / body-type-1part /
// body-type-mpart. Encapsulated messages get the body-type-msg form
// (envelope, body, lines): always for message/rfc822, and for
// message/global only when utf8 says the client accepts UTF-8 (RFC 9051,
// RFC 6532 3.5); otherwise message/global is a basic part.
func writeBodyStructure(e *wire.Encoder, p *message.Part, ext, utf8 bool) {
	e.Special('(')
	if p.IsMultipart() {
		// body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
		for _, c := range p.Children {
			writeBodyStructure(e, c, ext, utf8)
		}
		e.SP().StringUpper(p.Subtype)
		if ext {
			// body-ext-mpart = body-fld-param [SP body-fld-dsp
			//   [SP body-fld-lang [SP body-fld-loc]]]
			e.SP()
			writeParams(e, p.Params)
			writeExtTail(e, p)
		}
		e.Special(')')
		return
	}
	// body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP
	//   body-fld-enc SP body-fld-octets
	e.StringUpper(p.Type).SP().StringUpper(p.Subtype).SP()
	writeParams(e, p.Params)
	e.SP()
	nstring(e, p.ID)
	e.SP()
	nstring(e, p.Description)
	e.SP().StringUpper(p.EncodingName()).SP().Number64(uint64(p.Size()))
	switch {
	case p.Message != nil && (p.Subtype == "rfc822" || utf8):
		// body-type-msg = media-message SP body-fields SP envelope SP body
		//   SP body-fld-lines
		e.SP()
		writeEnvelope(e, &p.Message.Envelope)
		e.SP()
		writeBodyStructure(e, p.Message.Body, ext, utf8)
		e.SP().Number64(uint64(p.Lines))
	case p.Type == "text":
		// body-type-text = media-text SP body-fields SP body-fld-lines
		e.SP().Number64(uint64(p.Lines))
	}
	if ext {
		// body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang
		//   [SP body-fld-loc]]]
		e.SP()
		nstring(e, p.MD5)
		writeExtTail(e, p)
	}
	e.Special(')')
}

// writeExtTail writes the extension fields shared by both part kinds:
// SP body-fld-dsp SP body-fld-lang SP body-fld-loc.
func writeExtTail(e *wire.Encoder, p *message.Part) {
	e.SP()
	if p.Disposition == "" {
		e.NIL()
	} else {
		// body-fld-dsp = "(" string SP body-fld-param ")"
		e.Special('(').StringUpper(p.Disposition).SP()
		writeParams(e, p.DispositionParams)
		e.Special(')')
	}
	e.SP()
	switch len(p.Language) {
	case 0:
		e.NIL()
	case 1:
		e.String(p.Language[0])
	default:
		e.Special('(')
		for i, l := range p.Language {
			if i > 0 {
				e.SP()
			}
			e.String(l)
		}
		e.Special(')')
	}
	e.SP()
	nstring(e, p.Location)
}

// writeParams writes body-fld-param: "(" string SP string *(SP string SP
// string) ")" / nil. Attribute names are sent in upper case, values as
// they were.
func writeParams(e *wire.Encoder, ps []message.Param) {
	if len(ps) == 0 {
		e.NIL()
		return
	}
	e.Special('(')
	for i := range ps {
		if i > 0 {
			e.SP()
		}
		e.StringUpper(ps[i].Name).SP().String(ps[i].Value)
	}
	e.Special(')')
}
