package server

import (
	"strconv"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// SETMETADATA (RFC 5464 4.3): sets or (with NIL) removes server or
// mailbox entries, all or none. A value above the size limit is refused
// with [METADATA MAXSIZE n] — a literal by its announced size, before the
// client sends it — and an entry past the count limit with [METADATA
// TOOMANY]. Private entries are always supported, so [METADATA NOPRIVATE]
// is never needed. On a mailbox the change takes a modseq there, raising
// its HIGHESTMODSEQ (metadata is part of the mailbox's state for
// CONDSTORE, RFC 7162 3.2), and every session watching it is woken.
func init() {
	register(&Command{Name: "SETMETADATA", States: authenticated, Run: runSetMetadata})
}

func runSetMetadata(s *Session, c *Cmd) error {
	d := c.Dec
	if err := d.SP(); err != nil {
		return err
	}
	name, err := s.ReadMailbox(d)
	if err != nil {
		return err
	}
	if err := d.SP(); err != nil {
		return err
	}
	limits := s.srv.metadataLimits()
	tooBig := func(size int64) error {
		if size > int64(limits.MaxSize) {
			return No("METADATA MAXSIZE "+strconv.Itoa(limits.MaxSize), "Annotation too large")
		}
		return nil
	}
	var entries []store.MetadataEntry
	index := map[string]int{} // an entry named twice: the last value wins
	err = d.List(func() error {
		n, err := readEntry(s, c, false)
		if err != nil {
			return err
		}
		if err := d.SP(); err != nil {
			return err
		}
		v, ok, err := d.Value(tooBig)
		if err != nil {
			return err
		}
		if !ok {
			v = nil
		} else if v == nil {
			v = []byte{}
		}
		if i, dup := index[n]; dup {
			entries[i].Value = v
			return nil
		}
		index[n] = len(entries)
		entries = append(entries, store.MetadataEntry{Name: n, Value: v})
		return nil
	})
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return Bad("", "SETMETADATA needs at least one entry")
	}
	if err := c.End(); err != nil {
		return err
	}
	id, err := s.metadataTarget(name)
	if err != nil {
		return err
	}
	if id == store.ServerMetadata {
		if _, ok := index["/shared/admin"]; ok {
			// RFC 5464 3.2.1.1: always read-only.
			return No("PERMISSIONDENIED", "/shared/admin is read-only")
		}
	}
	md, err := s.openMetadata()
	if err != nil {
		return err
	}
	defer md.Close()
	ms, err := md.SetMetadata(s.ctx(), id, entries, limits)
	if err != nil {
		return metadataError(err)
	}
	s.noteOwnMetadata(id, ms)
	return nil
}
