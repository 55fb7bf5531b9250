package server

import (
	"strconv"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// GETMETADATA (RFC 5464 4.2): the values of server or mailbox entries,
// with the MAXSIZE (4.2.1) and DEPTH (4.2.2) options. The options are
// accepted before the mailbox, as the grammar has them, and after it, as
// the RFC's examples and clients (go-imap) send them.
func init() {
	register(&Command{Name: "GETMETADATA", States: authenticated, Run: runGetMetadata})
}

type getMetadataOptions struct {
	maxSize int64 // -1: none
	depth   int   // 0, 1, -1 (infinity)
	seen    bool
}

func runGetMetadata(s *Session, c *Cmd) error {
	d := c.Dec
	o := getMetadataOptions{maxSize: -1}
	if err := d.SP(); err != nil {
		return err
	}
	if b, err := d.Peek(); err == nil && b == '(' {
		if err := readGetMetadataOptions(c, &o); err != nil {
			return err
		}
		if err := d.SP(); err != nil {
			return err
		}
	}
	name, err := s.ReadMailbox(d)
	if err != nil {
		return err
	}
	if err := d.SP(); err != nil {
		return err
	}
	if b, _ := d.Peek(); b == '(' {
		if b2, _ := d.PeekAfter(); b2 != '/' && b2 != '"' && b2 != '{' && b2 != ')' {
			if o.seen {
				return Bad("", "GETMETADATA options given twice")
			}
			if err := readGetMetadataOptions(c, &o); err != nil {
				return err
			}
			if err := d.SP(); err != nil {
				return err
			}
		}
	}
	var names []string
	if b, _ := d.Peek(); b == '(' {
		err = d.List(func() error {
			n, err := readEntry(s, c, true)
			names = append(names, n)
			return err
		})
	} else {
		var n string
		n, err = readEntry(s, c, true)
		names = append(names, n)
	}
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return Bad("", "GETMETADATA needs at least one entry")
	}
	if err := c.End(); err != nil {
		return err
	}
	id, err := s.metadataTarget(name)
	if err != nil {
		return err
	}
	md, err := s.openMetadata()
	if err != nil {
		return err
	}
	defer md.Close()
	entries, err := md.GetMetadata(s.ctx(), id, names, o.depth)
	if err != nil {
		return err
	}
	if id == store.ServerMetadata {
		entries = withAdminEntry(s, entries, names, o.depth)
	}
	// RFC 5464 4.2.1: values above MAXSIZE are left out, and the largest
	// of them is reported.
	var longest int64
	shown := entries[:0:0]
	for _, e := range entries {
		if o.maxSize >= 0 && int64(len(e.Value)) > o.maxSize {
			longest = max(longest, int64(len(e.Value)))
			continue
		}
		shown = append(shown, e)
	}
	if len(shown) > 0 {
		enc := s.Untagged().Raw("METADATA ").Mailbox(name).SP()
		enc.List(len(shown), func(i int) {
			enc.Astring(shown[i].Name).SP().Value(shown[i].Value)
		})
		enc.CRLF()
	}
	if longest > 0 {
		c.Code = "METADATA LONGENTRIES " + strconv.FormatInt(longest, 10)
	}
	return s.enc.Err()
}

// withAdminEntry adds the configured /shared/admin to server entries
// when it is asked for (by name or by depth).
func withAdminEntry(s *Session, entries []store.MetadataEntry, names []string, depth int) []store.MetadataEntry {
	admin, ok := s.adminEntry()
	if !ok {
		return entries
	}
	for _, n := range names {
		if store.EntryMatches(admin.Name, n, depth) {
			out := []store.MetadataEntry{admin}
			for _, e := range entries {
				if e.Name != admin.Name {
					out = append(out, e)
				}
			}
			return out
		}
	}
	return entries
}

// readGetMetadataOptions reads "(MAXSIZE n DEPTH d)".
func readGetMetadataOptions(c *Cmd, o *getMetadataOptions) error {
	o.seen = true
	return c.Dec.List(func() error { return readGetMetadataOption(c, o) })
}

// readGetMetadataOption reads one option and its value.
func readGetMetadataOption(c *Cmd, o *getMetadataOptions) error {
	d := c.Dec
	opt, err := d.Atom()
	if err != nil {
		return err
	}
	if err := d.SP(); err != nil {
		return err
	}
	switch strings.ToUpper(opt) {
	case "MAXSIZE":
		n, err := d.Number()
		if err != nil {
			return err
		}
		o.maxSize = int64(n)
	case "DEPTH":
		v, err := d.Atom()
		if err != nil {
			return err
		}
		switch strings.ToLower(v) {
		case "0":
			o.depth = 0
		case "1":
			o.depth = 1
		case "infinity":
			o.depth = -1
		default:
			return Bad("", "DEPTH is 0, 1 or infinity")
		}
	default:
		return Bad("", "Unknown GETMETADATA option "+opt)
	}
	return nil
}
