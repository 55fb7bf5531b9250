package message

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sync"
)

// The parser reads the message once, a line at a time (a line longer than
// the read buffer arrives in several chunks), and keeps a stack of the parts
// that are open at the current offset, innermost last. A line that starts
// with the delimiter of an open multipart ends every part above that
// multipart: that is how broken nesting and missing close delimiters
// resolve, as RFC 2046 5.1.2 asks.

type frameKind uint8

const (
	frameHeader    frameKind = iota // reading the part's header
	frameLeaf                       // reading a leaf body
	frameMultipart                  // between the parts of a multipart
	frameMessage                    // message/rfc822; its message is the frame above
)

type frame struct {
	part     *Part
	kind     frameKind
	depth    int
	inDigest bool  // parent is multipart/digest (default type message/rfc822)
	bodyLF   int64 // LF count of the message before BodyOffset

	// For the root of a message (top level or encapsulated).
	envelope *Envelope
	search   *SearchFields

	// frameMultipart: "--boundary", nil if the multipart has none.
	delim  []byte
	closed bool // the close delimiter was seen: the rest is epilogue

	// frameLeaf with a transfer encoding to undo, for DecodedSize.
	dec         transferDecoder
	pendingTerm []byte // the last line break, which may belong to a delimiter
}

type parser struct {
	br      *bufio.Reader
	stack   []*frame
	scratch []byte
	// hdr holds the header being read, up to MaxHeaderBytes: only the
	// innermost open part can be reading its header.
	hdr    []byte
	fields []field

	off         int64 // offset of the next byte
	lfs         int64 // LFs before off
	atLineStart bool
	lastLF      bool  // the last byte read was LF
	prevTerm    int   // length of the previous line's break (0, 1 or 2)
	prevContent int64 // length of the previous complete line without its break
	curContent  int64 // length so far of the current (partial) line

	// A delimiter line longer than the buffer: skip its remaining chunks;
	// newChild is the part it opens, whose header starts after the line.
	skipLine bool
	newChild *frame

	parts   int // parts opened so far, the top level included (MaxParts)
	hdrLeft int // header bytes that may still be parsed (MaxHeaderTotal)
}

// Parse reads a whole message and returns its structure. It never fails on
// malformed content: such messages get a best-effort structure. Only an
// error from r is returned.
func Parse(r io.Reader) (*Structure, error) {
	s := &Structure{Body: &Part{}}
	p := parserPool.Get().(*parser)
	defer p.release()
	p.br.Reset(r)
	p.atLineStart = true
	p.parts, p.hdrLeft = 1, MaxHeaderTotal
	p.stack = append(p.stack, &frame{part: s.Body, envelope: &s.Envelope, search: &s.Search})
	for {
		chunk, err := p.br.ReadSlice('\n')
		if len(chunk) > 0 {
			p.line(chunk)
		}
		if err == nil || err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			break
		}
		return nil, fmt.Errorf("message: reading: %w", err)
	}
	p.finish()
	s.Size = p.off
	return s, nil
}

// parserPool recycles parsers with their read buffer and scratch space.
var parserPool = sync.Pool{New: func() any {
	return &parser{br: bufio.NewReaderSize(nil, 64<<10)}
}}

// release resets p and returns it to the pool; buffers grown by a huge
// message are dropped rather than kept.
func (p *parser) release() {
	*p = parser{
		br:      p.br,
		scratch: p.scratch[:0],
		hdr:     p.hdr[:0],
		fields:  p.fields[:0],
		stack:   p.stack[:0],
	}
	p.br.Reset(nil)
	if cap(p.scratch) > 256<<10 {
		p.scratch = nil
	}
	if cap(p.hdr) > 64<<10 {
		p.hdr = nil
	}
	if cap(p.fields) > 1024 {
		p.fields = nil
	}
	clear(p.stack[:cap(p.stack)])
	parserPool.Put(p)
}

// line handles one chunk: a whole line with its break, or a piece of a long
// line.
func (p *parser) line(chunk []byte) {
	start := p.off
	complete := chunk[len(chunk)-1] == '\n'
	switch {
	case p.skipLine:
	case p.atLineStart && len(chunk) > 2 && chunk[0] == '-' && chunk[1] == '-' && p.delimiter(chunk, start):
		p.skipLine = true
	default:
		p.feed(chunk, start, complete)
	}
	p.off += int64(len(chunk))
	p.lastLF = complete
	if !complete {
		p.curContent += int64(len(chunk))
		p.atLineStart = false
		return
	}
	p.lfs++
	term := 1
	if len(chunk) >= 2 && chunk[len(chunk)-2] == '\r' {
		term = 2
	}
	p.prevTerm = term
	p.prevContent = p.curContent + int64(len(chunk)-term)
	p.curContent = 0
	p.atLineStart = true
	if p.skipLine {
		p.skipLine = false
		p.startChild()
	}
}

// delimiter checks whether a line starting with "--" delimits an open
// multipart, innermost first, and if so ends the parts it closes.
func (p *parser) delimiter(line []byte, start int64) bool {
	for i := len(p.stack) - 1; i >= 0; i-- {
		f := p.stack[i]
		if f.kind != frameMultipart || f.closed || f.delim == nil || !bytes.HasPrefix(line, f.delim) {
			continue
		}
		isClose := bytes.HasPrefix(line[len(f.delim):], []byte("--"))
		if !isClose && (p.parts >= MaxParts || len(f.part.Children) >= MaxChildren) {
			// Past the bounds a delimiter opens nothing: the line stays
			// text of the part being read, like any other.
			return false
		}
		// RFC 2046 5.1.1: the line break before the delimiter is part of
		// it, not of the body that precedes it.
		end, endLF := start, p.lfs
		if p.prevTerm > 0 && start > 0 {
			end -= int64(p.prevTerm)
			endLF--
		}
		endsLF := p.prevTerm > 0 && p.prevContent == 0
		// A part whose header was cut short by the delimiter ends at the
		// delimiter, after that line break; its ancestors must then end
		// there too so that they still contain it.
		floor := int64(-1)
		for j := len(p.stack) - 1; j > i; j-- {
			if floor > end {
				p.close(p.stack[j], start, floor, p.lfs, true)
			} else {
				p.close(p.stack[j], start, end, endLF, endsLF)
			}
			floor = p.stack[j].part.EndOffset
		}
		p.stack = p.stack[:i+1]
		if isClose {
			f.closed = true
		} else {
			p.parts++
			p.newChild = &frame{
				part:     &Part{},
				depth:    f.depth + 1,
				inDigest: f.part.Subtype == "digest",
			}
			f.part.Children = append(f.part.Children, p.newChild.part)
		}
		return true
	}
	return false
}

// startChild opens the part announced by the delimiter line just ended.
func (p *parser) startChild() {
	if p.newChild == nil {
		return
	}
	p.newChild.part.HeaderOffset = p.off
	p.hdr = p.hdr[:0]
	p.stack = append(p.stack, p.newChild)
	p.newChild = nil
}

// feed gives a chunk to the innermost open part.
func (p *parser) feed(chunk []byte, start int64, complete bool) {
	f := p.stack[len(p.stack)-1]
	switch f.kind {
	case frameHeader:
		if p.atLineStart && complete && isBlankLine(chunk) {
			p.endHeader(f, start+int64(len(chunk)), p.lfs+1)
			return
		}
		if room := min(MaxHeaderBytes-len(p.hdr), p.hdrLeft); room > 0 {
			n := min(room, len(chunk))
			p.hdr = append(p.hdr, chunk[:n]...)
			p.hdrLeft -= n
		}
	case frameLeaf:
		if f.dec == nil {
			return
		}
		if len(f.pendingTerm) > 0 {
			p.decode(f, f.pendingTerm)
			f.pendingTerm = f.pendingTerm[:0]
		}
		body := chunk
		if complete {
			n := 1
			if len(chunk) >= 2 && chunk[len(chunk)-2] == '\r' {
				n = 2
			}
			body = chunk[:len(chunk)-n]
			f.pendingTerm = append(f.pendingTerm, chunk[len(chunk)-n:]...)
		}
		p.decode(f, body)
	}
}

func (p *parser) decode(f *frame, b []byte) {
	p.scratch = f.dec.decode(p.scratch[:0], b)
	f.part.DecodedSize += int64(len(p.scratch))
}

// endHeader finishes a part's header at bodyOffset (bodyLF LFs precede it)
// and decides how its body is read.
func (p *parser) endHeader(f *frame, bodyOffset, bodyLF int64) {
	part := f.part
	part.BodyOffset = bodyOffset
	f.bodyLF = bodyLF
	p.fields = splitFields(p.fields[:0], p.hdr)
	h := headerFields{fields: p.fields}
	p.hdr = p.hdr[:0]
	mimeInfo(part, &h, f.inDigest)
	if f.envelope != nil {
		*f.envelope = buildEnvelope(&h)
	}
	if f.search != nil {
		*f.search = buildSearchFields(&h, f.envelope)
	}
	container := part.Type == "multipart" || part.Type == "message" && (part.Subtype == "rfc822" || part.Subtype == "global")
	if container && (f.depth >= MaxDepth || p.parts >= MaxParts) {
		// Too deep, or no part left for its children: keep the bytes,
		// stop descending.
		part.Type, part.Subtype, part.Params = "application", "octet-stream", nil
		container = false
	}
	switch {
	case container && part.Type == "multipart":
		f.kind = frameMultipart
		if b := part.Param("boundary"); b != "" {
			f.delim = append([]byte("--"), b...)
		}
	case container:
		f.kind = frameMessage
		p.parts++
		part.Message = &Embedded{Body: &Part{HeaderOffset: bodyOffset}}
		p.stack = append(p.stack, &frame{
			part:     part.Message.Body,
			depth:    f.depth + 1,
			envelope: &part.Message.Envelope,
		})
	default:
		f.kind = frameLeaf
		switch enc := classifyEncoding(part.Encoding); enc {
		case encBase64, encQP:
			f.dec = newTransferDecoder(enc)
		case encUnknown:
			part.UnknownEncoding = true
		}
	}
}

// close ends a part. at is where the line that ends it starts; end and endLF
// are the end of its body and the LFs before it, endsLF whether the byte
// before end is an LF.
func (p *parser) close(f *frame, at, end, endLF int64, endsLF bool) {
	part := f.part
	if f.kind == frameHeader {
		// The header never ended: all of it is header, the body is empty.
		p.endHeader(f, at, p.lfs)
		end, endLF = at, p.lfs
		if f.kind == frameMessage {
			// endHeader pushed the encapsulated message: close it too.
			inner := p.stack[len(p.stack)-1]
			p.stack = p.stack[:len(p.stack)-1]
			p.close(inner, at, at, p.lfs, false)
		}
	}
	if end < part.BodyOffset {
		end, endLF = part.BodyOffset, f.bodyLF
	}
	part.EndOffset = end
	part.Lines = endLF - f.bodyLF
	if end > part.BodyOffset && !endsLF {
		part.Lines++
	}
	switch f.kind {
	case frameLeaf:
		if f.dec == nil {
			part.DecodedSize = part.Size()
		} else {
			p.scratch = f.dec.finish(p.scratch[:0])
			part.DecodedSize += int64(len(p.scratch))
		}
	case frameMultipart:
		if len(part.Children) == 0 {
			// A multipart needs at least one part (RFC 9051 body-type-mpart).
			part.Children = []*Part{{
				Type: "text", Subtype: "plain",
				Params:       []Param{{Name: "charset", Value: "us-ascii"}},
				HeaderOffset: part.BodyOffset, BodyOffset: part.BodyOffset, EndOffset: part.BodyOffset,
			}}
		}
	}
}

// finish closes every open part at the end of the message.
func (p *parser) finish() {
	p.startChild()
	for j := len(p.stack) - 1; j >= 0; j-- {
		f := p.stack[j]
		if f.kind == frameLeaf && f.dec != nil && len(f.pendingTerm) > 0 {
			p.decode(f, f.pendingTerm)
		}
		p.close(f, p.off, p.off, p.lfs, p.lastLF)
	}
	p.stack = nil
}
