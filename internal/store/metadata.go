package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Metadata (RFC 5464 METADATA): annotations of a user's server and
// mailboxes, entries named by slash-separated paths such as
// "/private/comment", each with a value of octets.
//
// A backend keeps, per mailbox (and for the server, mailbox id
// ServerMetadata), one row per entry name ever set: its value and the
// modseq of its last change. Deleting an entry (a nil value) keeps the row
// with no value, so "which entries changed since modseq M" is one range
// read, for NOTIFY's MailboxMetadataChange and for replication, exactly
// as tombstones serve VANISHED. A change to a mailbox's entries takes a
// modseq of the mailbox (its HIGHESTMODSEQ moves, RFC 7162 3.2: the
// mailbox's metadata changed) and is published on the Hub like any other
// commit; server entries have their own counter and are published under
// AccountID.
//
// The entries of a mailbox follow it through RENAME (they are keyed by
// MailboxID) and go with it on DELETE. A user's entries are only ever
// reached through that user's handle.

// ServerMetadata is the mailbox id under which server entries are kept.
const ServerMetadata MailboxID = 0

// MetadataEntry is one entry. Name is in canonical (lower-case) form.
type MetadataEntry struct {
	Name string
	// Value is the entry's value; nil means no value (deleted, or to
	// delete in SetMetadata). An empty non-nil value is a value.
	Value []byte
	// ModSeq is the modseq of the entry's last change (reads only).
	ModSeq ModSeq
	// Stamp is, for replication, the stamp of the change that gave the
	// entry its value: the modseq of a client's change, kept as its
	// origin gave it where a peer's change is applied (so two changes
	// made apart compare alike on every replica, however they
	// travelled). Read with the changes (MetadataChangedSince); in a
	// store.Batch, 0 stands for ModSeq (a peer of an earlier version).
	Stamp ModSeq
}

// MetadataLimits bound what SetMetadata may leave behind.
type MetadataLimits struct {
	// MaxSize is the largest value accepted, in octets (0: no limit).
	MaxSize int
	// MaxEntries is the most entries with a value one mailbox (or the
	// server) may hold (0: no limit).
	MaxEntries int
}

// MetadataLimitError is SetMetadata's refusal because of a limit; nothing
// was written.
type MetadataLimitError struct {
	// MaxSize is set when a value was too large: the largest accepted.
	MaxSize int
	// TooMany is set when the entry count would pass MaxEntries.
	TooMany bool
}

func (e *MetadataLimitError) Error() string {
	if e.TooMany {
		return "too many metadata entries"
	}
	return fmt.Sprintf("metadata value larger than %d octets", e.MaxSize)
}

// Metadata reads and writes one user's annotations. Obtain it from a
// store implementing MetadataStore; close it when done.
type Metadata interface {
	Close() error
	// GetMetadata returns the entries of mailbox id (ServerMetadata for
	// the server) that have a value and whose name is one of names or, by
	// depth, below one: depth 0 the names themselves, 1 also their
	// children, -1 every descendant. Names are canonical. The result is
	// ordered by name, each entry once.
	GetMetadata(ctx context.Context, id MailboxID, names []string, depth int) ([]MetadataEntry, error)
	// SetMetadata sets (or with a nil Value deletes) entries of mailbox id
	// in one transaction, all or nothing. A limit passed fails with
	// *MetadataLimitError. It returns the modseq the change took (0 when
	// nothing changed); a mailbox's HIGHESTMODSEQ becomes it and watchers
	// are woken. ErrNoMailbox when id does not exist.
	SetMetadata(ctx context.Context, id MailboxID, entries []MetadataEntry, limits MetadataLimits) (ModSeq, error)
	// MetadataChangedSince returns the entries of mailbox id changed at a
	// modseq above since, deleted ones with a nil Value, ordered by name.
	MetadataChangedSince(ctx context.Context, id MailboxID, since ModSeq) ([]MetadataEntry, error)
	// ServerMetadataModSeq returns the modseq of the latest change to
	// server entries (0 for none).
	ServerMetadataModSeq(ctx context.Context) (ModSeq, error)
}

// MetadataStore is implemented by stores that keep metadata; found by a
// type assertion on the Store, like Shared.
type MetadataStore interface {
	// OpenMetadata returns a handle on user's metadata (ErrNoUser).
	OpenMetadata(ctx context.Context, user string) (Metadata, error)
}

// ErrInvalidEntry is an entry name RFC 5464 3.2 does not allow.
var ErrInvalidEntry = errors.New("invalid metadata entry name")

// CanonicalEntry checks an entry name (RFC 5464 3.2) and returns its
// canonical form, lower case: names are case-insensitive. A name starts
// with /private or /shared, has at least two components (four under
// /private/vendor or /shared/vendor), no empty component, no trailing
// slash, no "*" or "%", only ASCII above 0x19. A name looked up rather
// than set (GETMETADATA) may also be a shorter prefix ("/private",
// "/shared/vendor"), which DEPTH expands.
func CanonicalEntry(name string, lookup bool) (string, error) {
	if len(name) < 2 || name[0] != '/' || name[len(name)-1] == '/' || strings.Contains(name, "//") {
		return "", ErrInvalidEntry
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= 0x19 || c >= 0x7f || c == '*' || c == '%' {
			return "", ErrInvalidEntry
		}
	}
	n := strings.ToLower(name)
	parts := strings.Split(n[1:], "/")
	if parts[0] != "private" && parts[0] != "shared" {
		return "", ErrInvalidEntry
	}
	if lookup {
		return n, nil
	}
	if len(parts) < 2 {
		return "", ErrInvalidEntry
	}
	if parts[1] == "vendor" && len(parts) < 4 {
		return "", ErrInvalidEntry
	}
	return n, nil
}

// EntryMatches reports whether entry is name or, by depth (0, 1, -1 for
// infinity), below it.
func EntryMatches(entry, name string, depth int) bool {
	if entry == name {
		return true
	}
	if depth == 0 || !strings.HasPrefix(entry, name+"/") {
		return false
	}
	return depth < 0 || !strings.Contains(entry[len(name)+1:], "/")
}

// GatherMetadata answers GetMetadata from a backend's reads: read returns
// the entries with a value that are name itself or, when below is set,
// whose names start with name+"/" (a range read, deeper ones included).
// It keeps those within depth, each once, an empty value as empty rather
// than nil, ordered by name.
func GatherMetadata(names []string, depth int, read func(name string, below bool) ([]MetadataEntry, error)) ([]MetadataEntry, error) {
	seen := make(map[string]bool)
	var out []MetadataEntry
	for _, name := range names {
		es, err := read(name, depth != 0)
		if err != nil {
			return nil, fmt.Errorf("get metadata: %w", err)
		}
		for _, e := range es {
			if seen[e.Name] || !EntryMatches(e.Name, name, depth) {
				continue
			}
			seen[e.Name] = true
			if e.Value == nil {
				e.Value = []byte{}
			}
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b MetadataEntry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// ScanMetadataChange reads one row of a backend's MetadataChangedSince
// query, its columns name, value, "value IS NOT NULL", modseq and the
// stamp column (0: the modseq): a deleted entry has a nil Value, an empty
// one an empty Value (drivers read an empty BLOB back as nil).
func ScanMetadataChange(row interface{ Scan(dest ...any) error }) (MetadataEntry, error) {
	var e MetadataEntry
	var present bool
	if err := row.Scan(&e.Name, &e.Value, &present, &e.ModSeq, &e.Stamp); err != nil {
		return MetadataEntry{}, err
	}
	e.Stamp = e.Stamped()
	if !present {
		e.Value = nil
	} else if e.Value == nil {
		e.Value = []byte{}
	}
	return e, nil
}

// MetadataUnchanged reports whether setting value (nil: deleting) changes
// nothing for an entry holding old (exists: it has a value).
func MetadataUnchanged(value, old []byte, exists bool) bool {
	return value == nil && !exists || value != nil && exists && string(old) == string(value)
}
