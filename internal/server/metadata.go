package server

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// METADATA (RFC 5464) and LIST-METADATA (RFC 9590): what GETMETADATA,
// SETMETADATA and LIST RETURN (METADATA) share. Entries live in the store
// (store.Metadata, found on stores implementing store.MetadataStore); the
// extension is offered only on such stores.
//
// Access (RFC 5464 3.3): without ACL a user reaches only the mailboxes of
// their own store, so any mailbox they can LIST. /private and /shared
// entries are both kept; with no mailbox shared between users, a /shared
// entry is seen only by its owner, like a /private one. Server entries
// are the user's too (kept under store.ServerMetadata in their store);
// /shared/admin is read-only (3.2.1.1) and comes from
// Config.MetadataAdmin.

// Default metadata limits (Config.Metadata): RFC 5464 4.1 asks for at
// least 1024 octets and 10 entries.
const (
	defaultMetadataMaxSize    = 64 << 10
	defaultMetadataMaxEntries = 256
)

func init() {
	addCapability("METADATA", func(s *Session) bool { return afterAuth(s) && s.srv.hasMetadata() })
}

// hasMetadata reports whether the store keeps metadata.
func (srv *Server) hasMetadata() bool {
	_, ok := srv.cfg.Store.(store.MetadataStore)
	return ok
}

// metadataLimits returns the configured limits with defaults filled in.
func (srv *Server) metadataLimits() store.MetadataLimits {
	l := srv.cfg.Metadata
	if l.MaxSize == 0 {
		l.MaxSize = defaultMetadataMaxSize
	}
	if l.MaxEntries == 0 {
		l.MaxEntries = defaultMetadataMaxEntries
	}
	return l
}

// openMetadata opens the user's metadata for one command.
func (s *Session) openMetadata() (store.Metadata, error) {
	ms, ok := s.srv.cfg.Store.(store.MetadataStore)
	if !ok {
		return nil, Bad("CLIENTBUG", "METADATA is not supported")
	}
	return ms.OpenMetadata(s.ctx(), s.user)
}

// metadataTarget resolves a mailbox argument: "" is the server.
func (s *Session) metadataTarget(name string) (store.MailboxID, error) {
	if name == "" {
		return store.ServerMetadata, nil
	}
	info, err := s.acct.Mailbox(s.ctx(), name)
	if err != nil {
		return 0, err
	}
	return info.ID, nil
}

// readEntry reads an entry name and checks it (RFC 5464 3.2: an invalid
// name is BAD).
func readEntry(s *Session, c *Cmd, lookup bool) (string, error) {
	e, err := c.Dec.Astring()
	if err != nil {
		return "", err
	}
	n, err := store.CanonicalEntry(e, lookup)
	if err != nil {
		return "", Bad("", fmt.Sprintf("Invalid entry name %q", e))
	}
	return n, nil
}

// metadataError maps the store's limit refusals to RFC 5464 4.3 codes.
func metadataError(err error) error {
	var le *store.MetadataLimitError
	if errors.As(err, &le) {
		if le.TooMany {
			return No("METADATA TOOMANY", "Too many annotations")
		}
		return No("METADATA MAXSIZE "+strconv.Itoa(le.MaxSize), "Annotation too large")
	}
	return err
}

// adminEntry is the read-only server entry /shared/admin, when configured.
func (s *Session) adminEntry() (store.MetadataEntry, bool) {
	if s.srv.cfg.MetadataAdmin == "" {
		return store.MetadataEntry{}, false
	}
	return store.MetadataEntry{Name: "/shared/admin", Value: []byte(s.srv.cfg.MetadataAdmin)}, true
}
