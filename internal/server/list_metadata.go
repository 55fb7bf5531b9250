package server

import (
	"errors"
	"strconv"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// LIST-METADATA (RFC 9590): the return option METADATA of LIST-EXTENDED
// asks, for each mailbox listed, for the METADATA response GETMETADATA
// would give, right after its LIST response:
//
//	C: a LIST "" "*" RETURN (METADATA (/shared/comment /private/color))
//	S: * LIST (\HasNoChildren) "/" INBOX
//	S: * METADATA INBOX (/shared/comment NIL /private/color "#ff0000")
//
// Every requested entry is named, NIL when the mailbox has no value for
// it, as RFC 9590's examples answer. The entries may be preceded by
// GETMETADATA's options (MAXSIZE, DEPTH); values above MAXSIZE are left
// out and the largest is reported in the tagged OK as [METADATA
// LONGENTRIES n], as GETMETADATA does. Another user's mailbox (shared.go)
// gets no METADATA response: its entries are its owner's. One metadata
// handle serves the whole listing; each listed mailbox costs one read.
func init() {
	addCapability("LIST-METADATA", func(s *Session) bool { return afterAuth(s) && s.srv.hasMetadata() })
}

// listMetadata is a parsed METADATA return option and what the listing
// found.
type listMetadata struct {
	opts    getMetadataOptions
	names   []string
	md      store.Metadata
	longest int64
}

// readListMetadata reads what follows "METADATA". RFC 5258's grammar
// makes a return option's value one parenthesized group, so the options
// and entries may share it — "(/a /b)", "((MAXSIZE 10) /a /b)", "(MAXSIZE
// 10 DEPTH 1 /a)" — and the forms GETMETADATA takes are accepted too: an
// options group, then the entries ("(MAXSIZE 10) (/a /b)"), or a single
// entry without parentheses.
func (s *Session) readListMetadata(d *wire.Decoder) (*listMetadata, error) {
	m := &listMetadata{opts: getMetadataOptions{maxSize: -1}}
	c := &Cmd{Dec: d}
	if err := d.SP(); err != nil {
		return nil, err
	}
	entry := func() error {
		n, err := readEntry(s, c, true)
		m.names = append(m.names, n)
		return err
	}
	if b, _ := d.Peek(); b != '(' {
		if err := entry(); err != nil {
			return nil, err
		}
		return m, nil
	}
	err := d.List(func() error {
		b, _ := d.Peek()
		switch {
		case b == '(':
			if len(m.names) > 0 || m.opts.seen {
				return Bad("", "METADATA options come first, once")
			}
			return readGetMetadataOptions(c, &m.opts)
		case b == '/' || b == '"' || b == '{':
			return entry()
		}
		if len(m.names) > 0 {
			return Bad("", "METADATA options come first")
		}
		m.opts.seen = true
		return readGetMetadataOption(c, &m.opts)
	})
	if err != nil {
		return nil, err
	}
	if len(m.names) == 0 && m.opts.seen {
		// The options group of GETMETADATA's form; the entries follow.
		if err := d.SP(); err != nil {
			return nil, err
		}
		if b, _ := d.Peek(); b == '(' {
			err = d.List(entry)
		} else {
			err = entry()
		}
		if err != nil {
			return nil, err
		}
	}
	if len(m.names) == 0 {
		return nil, Bad("", "METADATA needs at least one entry")
	}
	return m, nil
}

// writeListMetadata writes the METADATA response of one listed mailbox.
func (s *Session) writeListMetadata(e *listEntry, m *listMetadata) error {
	if e.ref != nil {
		return nil
	}
	if m.md == nil {
		md, err := s.openMetadata()
		if err != nil {
			return err
		}
		m.md = md
	}
	entries, err := m.md.GetMetadata(s.ctx(), e.info.ID, m.names, m.opts.depth)
	if errors.Is(err, store.ErrNoMailbox) {
		return nil // deleted meanwhile: listed, but nothing to say
	}
	if err != nil {
		return err
	}
	shown := entries[:0:0]
	found := make(map[string]bool, len(entries))
	for _, x := range entries {
		found[x.Name] = true
		if m.opts.maxSize >= 0 && int64(len(x.Value)) > m.opts.maxSize {
			m.longest = max(m.longest, int64(len(x.Value)))
			continue
		}
		shown = append(shown, x)
	}
	for _, n := range m.names {
		if !found[n] && !foundBelow(entries, n) {
			found[n] = true
			shown = append(shown, store.MetadataEntry{Name: n})
		}
	}
	if len(shown) == 0 {
		return nil
	}
	enc := s.Untagged().Raw("METADATA ").Mailbox(e.name).SP()
	enc.List(len(shown), func(i int) {
		enc.Astring(shown[i].Name).SP()
		if shown[i].Value == nil {
			enc.NIL()
		} else {
			enc.Value(shown[i].Value)
		}
	})
	enc.CRLF()
	return nil
}

// foundBelow reports whether entries hold one below name (asked for with
// DEPTH): the name is then answered by them, not by NIL.
func foundBelow(entries []store.MetadataEntry, name string) bool {
	for _, x := range entries {
		if len(x.Name) > len(name) && x.Name[len(name)] == '/' && strings.EqualFold(x.Name[:len(name)], name) {
			return true
		}
	}
	return false
}

// close releases the metadata handle, if one was opened.
func (m *listMetadata) close() {
	if m.md != nil {
		m.md.Close()
		m.md = nil
	}
}

// finish sets the tagged OK's code.
func (m *listMetadata) finish(c *Cmd) {
	if m.longest > 0 {
		c.Code = "METADATA LONGENTRIES " + strconv.FormatInt(m.longest, 10)
	}
}
