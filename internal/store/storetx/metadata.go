package storetx

import (
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// MetadataTx is a backend's statements for RFC 5464 metadata (see
// store.Metadata for the model).
type MetadataTx interface {
	Tx
	// MetadataValue reads entry name of mailbox id (store.ServerMetadata
	// for the server); ok is false when it has no value.
	MetadataValue(id store.MailboxID, name string) (value []byte, ok bool, err error)
	// MetadataCount counts the entries of mailbox id that have a value.
	MetadataCount(id store.MailboxID) (int, error)
	// ServerMetadataModSeq allocates the modseq of a change to server
	// entries, one above the highest server entry's, and marks the
	// transaction as changing the account.
	ServerMetadataModSeq() (store.ModSeq, error)
	// PutMetadata sets entry name of mailbox id to value (nil: no value,
	// the row kept) at ms, with the stamp of a peer's change
	// (store.MetadataEntry.Stamp; 0 for a change made here: ms).
	PutMetadata(id store.MailboxID, name string, value []byte, ms, stamp store.ModSeq) error
	// CopyMetadataEntries gives mailbox dst src's entries that have a
	// value, at ms.
	CopyMetadataEntries(src, dst store.MailboxID, ms store.ModSeq) error
}

// CheckMetadataSize refuses entries when a value is larger than
// limits.MaxSize; it needs no transaction.
func CheckMetadataSize(entries []store.MetadataEntry, limits store.MetadataLimits) error {
	if limits.MaxSize > 0 {
		for _, e := range entries {
			if len(e.Value) > limits.MaxSize {
				return &store.MetadataLimitError{MaxSize: limits.MaxSize}
			}
		}
	}
	return nil
}

// SetMetadata sets (a nil Value: deletes) entries of mailbox id, all or
// nothing, and returns the modseq the change took: 0 when every entry was
// already so, a modseq of the mailbox, or for server entries their own
// next one. Passing limits.MaxEntries fails with *store.MetadataLimitError
// (store.Metadata.SetMetadata).
func SetMetadata(t MetadataTx, id store.MailboxID, entries []store.MetadataEntry, limits store.MetadataLimits) (store.ModSeq, error) {
	if id != store.ServerMetadata {
		if _, err := t.Mailbox(id); err != nil {
			return 0, err
		}
	}
	// What changes: an entry whose value differs from the stored one.
	var changes []store.MetadataEntry
	delta := 0 // change in the count of entries with a value
	for _, e := range entries {
		old, exists, err := t.MetadataValue(id, e.Name)
		if err != nil {
			return 0, err
		}
		if store.MetadataUnchanged(e.Value, old, exists) {
			continue // already so: no change, no modseq
		}
		switch {
		case e.Value != nil && !exists:
			delta++
		case e.Value == nil && exists:
			delta--
		}
		changes = append(changes, e)
	}
	if len(changes) == 0 {
		return 0, nil
	}
	if limits.MaxEntries > 0 && delta > 0 {
		n, err := t.MetadataCount(id)
		if err != nil {
			return 0, err
		}
		if n+delta > limits.MaxEntries {
			return 0, &store.MetadataLimitError{TooMany: true}
		}
	}
	var ms store.ModSeq
	var err error
	if id == store.ServerMetadata {
		ms, err = t.ServerMetadataModSeq()
	} else {
		ms, err = t.ModSeq(id)
	}
	if err != nil {
		return 0, err
	}
	for _, c := range changes {
		if err := t.PutMetadata(id, c.Name, c.Value, ms, 0); err != nil {
			return 0, fmt.Errorf("set metadata: %w", err)
		}
	}
	return ms, nil
}

// CopyMetadata gives mailbox dst a copy of src's entries at a modseq of
// dst: RENAME of INBOX keeps INBOX's entries and copies them to the new
// mailbox (RFC 5464 4.1). Copying nothing allocates no modseq.
func CopyMetadata(t MetadataTx, src, dst store.MailboxID) error {
	n, err := t.MetadataCount(src)
	if err != nil || n == 0 {
		return err
	}
	ms, err := t.ModSeq(dst)
	if err != nil {
		return err
	}
	return t.CopyMetadataEntries(src, dst, ms)
}

// ApplyServerMetadata writes a peer's server entries, each at max(the
// server counter + 1, its peer modseq), so the server counter is a Lamport
// clock between replicas like a mailbox's modseqs. An entry already so
// changes nothing.
func ApplyServerMetadata(t MetadataTx, entries []store.MetadataEntry) error {
	for _, e := range entries {
		old, exists, err := t.MetadataValue(store.ServerMetadata, e.Name)
		if err != nil {
			return err
		}
		if store.MetadataUnchanged(e.Value, old, exists) {
			continue
		}
		ms, err := t.ServerMetadataModSeq()
		if err != nil {
			return err
		}
		if err := t.PutMetadata(store.ServerMetadata, e.Name, e.Value, max(ms, e.ModSeq), e.Stamped()); err != nil {
			return fmt.Errorf("set metadata: %w", err)
		}
	}
	return nil
}
