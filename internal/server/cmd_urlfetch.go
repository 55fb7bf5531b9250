package server

import (
	"errors"
	"io"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// URLFETCH (RFC 4467 6.3, extended by RFC 5524 3): the content that
// URLAUTH-authorized URLs name, one untagged URLFETCH response per URL in
// the order given. A URL that does not admit this session, or names
// nothing (expired, key reset, mailbox gone, message expunged, no such
// part), is answered NIL; the command itself still succeeds.
//
// A URL in parentheses takes RFC 5524's parameters: BODYPARTSTRUCTURE
// (the part's structure), and BODY (the content as stored) or BINARY (with
// its Content-Transfer-Encoding undone, NIL when the encoding is unknown
// or the URL names a header rather than a part). ;PARTIAL= applies to
// the content returned, decoded for BINARY.
func init() {
	register(&Command{Name: "URLFETCH", States: authenticated, Run: runURLFetch})
}

type urlFetchArg struct {
	url string
	// ext is set for the parenthesized form; then the parameters follow.
	ext                    bool
	body, binary, bodypart bool
}

func runURLFetch(s *Session, c *Cmd) error {
	d := c.Dec
	var args []urlFetchArg
	for {
		if err := d.SP(); err != nil {
			return err
		}
		var a urlFetchArg
		if b, _ := d.Peek(); b == '(' {
			a.ext = true
			first := true
			err := d.List(func() error {
				if first {
					first = false
					u, err := d.Astring()
					a.url = u
					return err
				}
				p, err := d.Atom()
				if err != nil {
					return err
				}
				switch strings.ToUpper(p) {
				case "BODY":
					a.body = true
				case "BINARY":
					a.binary = true
				case "BODYPARTSTRUCTURE":
					a.bodypart = true
				default:
					return Bad("", "Unknown URLFETCH parameter "+clipLen(p))
				}
				return nil
			})
			if err != nil {
				return err
			}
			if first {
				return Bad("", "URLFETCH needs a URL")
			}
			if a.body && a.binary {
				return Bad("", "BODY and BINARY are exclusive")
			}
		} else {
			u, err := d.Astring()
			if err != nil {
				return err
			}
			a.url = u
		}
		args = append(args, a)
		if b, err := d.Peek(); err != nil || b != ' ' {
			break
		}
	}
	if err := c.End(); err != nil {
		return err
	}
	if !s.srv.hasAccessKeys() {
		return Bad("CLIENTBUG", "URLAUTH is not supported")
	}
	for _, a := range args {
		if err := s.urlFetch(a); err != nil {
			return err
		}
		if err := s.enc.Err(); err != nil {
			return err
		}
	}
	return nil
}

// urlFetch writes the URLFETCH response for one URL.
func (s *Session) urlFetch(a urlFetchArg) error {
	nilAnswer := func() error {
		s.Untagged().Raw("URLFETCH ").String(a.url).SP().NIL().CRLF()
		return nil
	}
	t, why, err := s.resolveURL(a.url, true)
	if err != nil {
		return err
	}
	if why != "" {
		s.log.Debug("URLFETCH refused", "why", why)
		return nilAnswer()
	}
	defer t.release()
	answered := false
	_, err = t.message(s.ctx(), func(m *store.MessageData, b store.Blob) error {
		sr, err := message.Section(m.Structure, b, t.spec)
		if err != nil {
			// A section the message cannot give names nothing.
			return nil
		}
		answered = true
		e := s.Untagged().Raw("URLFETCH ").String(a.url)
		if !a.ext {
			off, n := partRange(t.rangeItem(), sr.Size())
			e.SP().Literal(n, io.NewSectionReader(sr, off, n)).CRLF()
			return nil
		}
		if a.bodypart {
			e.SP().Raw("(BODYPARTSTRUCTURE ")
			if p := urlPart(m.Structure, t); p != nil {
				writeBodyStructure(e, p, true, e.UTF8)
			} else {
				e.NIL()
			}
			e.Special(')')
		}
		switch {
		case a.body:
			off, n := partRange(t.rangeItem(), sr.Size())
			e.SP().Raw("(BODY ").Literal(n, io.NewSectionReader(sr, off, n)).Special(')')
		case a.binary:
			e.SP().Raw("(BINARY ")
			if urlPart(m.Structure, t) == nil {
				e.NIL()
			} else if err := writeDecoded(e, m.Structure, b, t.spec.Part, t.rangeItem()); errors.Is(err, message.ErrUnknownEncoding) {
				e.NIL()
			} else if err != nil {
				return err
			}
			e.Special(')')
		}
		e.CRLF()
		return nil
	})
	if err != nil {
		return err
	}
	if !answered {
		return nilAnswer()
	}
	return nil
}

// urlPart is the body part a URL names, or nil when it names a header or
// text section rather than a part (RFC 5524 3.1: BODYPARTSTRUCTURE and
// BINARY are about parts).
func urlPart(st *message.Structure, t urlTarget) *message.Part {
	if t.spec.Specifier != message.SpecNone {
		return nil
	}
	return st.Lookup(t.spec.Part)
}
