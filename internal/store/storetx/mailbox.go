package storetx

import (
	"fmt"
	"math"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Mailboxes is a backend's statements for the account level: mailboxes
// and subscriptions. Every change there takes an account change stamp
// (AccountChange), which replication orders them by.
type Mailboxes interface {
	Expunger
	MetadataTx
	// Lookup reads the mailbox named name; ok is false when there is
	// none.
	Lookup(name string) (m Mailbox, ok bool, err error)
	// CreateMailbox inserts mailbox name with a fresh replicated id and
	// UIDVALIDITY, UIDNEXT 1 and HIGHESTMODSEQ 1, and records the (name,
	// UIDVALIDITY) pair in the history.
	CreateMailbox(name string, special store.SpecialUse) (store.MailboxID, error)
	// DeleteMailbox deletes mailbox m with its messages, leaving a
	// mailbox tombstone.
	DeleteMailbox(m Mailbox) error
	// Subtree lists mailbox name and every mailbox below it.
	Subtree(name string) ([]Renaming, error)
	// SetMailboxName renames mailbox id, stamped changed.
	SetMailboxName(id store.MailboxID, name string, changed uint64) error
	// RecordUIDValidity notes that mailbox name has (had) UIDVALIDITY v.
	RecordUIDValidity(name string, v uint32) error
	// AccountChange allocates the stamp of an account-level change: the
	// next value of the account's counter, or for a peer's change (stamp
	// non-zero) stamp itself while the counter moves past it.
	AccountChange(stamp uint64) (uint64, error)
	// TakeMessages moves every message of from to mailbox to, keeping
	// UIDs, counters and \Recent state, giving them modseq ms there; it
	// returns the UIDs moved.
	TakeMessages(from Mailbox, to store.MailboxID, ms store.ModSeq) (store.UIDSet, error)
	// SetUIDNext sets mailbox id's UIDNEXT.
	SetUIDNext(id store.MailboxID, next store.UID) error
	// Subscribed reports whether name is subscribed.
	Subscribed(name string) (bool, error)
	// Subscribe adds a subscription stamped changed, forgetting that
	// name was unsubscribed.
	Subscribe(name string, changed uint64) error
	// Unsubscribe removes a subscription, remembering it as unsubscribed
	// at changed so that replicas can tell "unsubscribed here" from
	// "subscribed there".
	Unsubscribe(name string, changed uint64) error
}

// Renaming is one mailbox of a subtree about to be renamed.
type Renaming struct {
	ID          store.MailboxID
	Name        string
	UIDValidity uint32
}

// CheckCreate returns the canonical form of name for CreateMailbox, or
// why it cannot be created whatever the account holds.
func CheckCreate(name string, opts store.CreateOptions) (string, error) {
	cname, err := store.CanonicalMailboxName(name)
	if err != nil {
		return "", err
	}
	if !store.ValidSpecialUse(opts.SpecialUse) {
		return "", fmt.Errorf("special-use %q: %w", opts.SpecialUse, store.ErrCannot)
	}
	return cname, nil
}

// CreateMailbox creates mailbox cname (canonical, CheckCreate) and any
// missing parents (RFC 9051 6.3.4).
func CreateMailbox(t Mailboxes, cname string, special store.SpecialUse) (store.MailboxInfo, error) {
	if _, ok, err := t.Lookup(cname); err != nil {
		return store.MailboxInfo{}, err
	} else if ok {
		return store.MailboxInfo{}, fmt.Errorf("create %q: %w", cname, store.ErrMailboxExists)
	}
	if err := CreateParents(t, cname); err != nil {
		return store.MailboxInfo{}, err
	}
	id, err := t.CreateMailbox(cname, special)
	if err != nil {
		return store.MailboxInfo{}, err
	}
	m, err := t.Mailbox(id)
	return m.MailboxInfo, err
}

// CreateParents creates the missing parents of name.
func CreateParents(t Mailboxes, name string) error {
	for _, p := range store.ParentNames(name) {
		if _, ok, err := t.Lookup(p); err != nil {
			return err
		} else if !ok {
			if _, err := t.CreateMailbox(p, ""); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckDelete returns the canonical form of name for DeleteMailbox, or
// why it cannot be deleted whatever the account holds.
func CheckDelete(name string) (string, error) {
	cname, err := store.CanonicalMailboxName(name)
	if err != nil {
		return "", err
	}
	if cname == "INBOX" {
		return "", fmt.Errorf("delete INBOX: %w", store.ErrCannot)
	}
	return cname, nil
}

// DeleteMailbox deletes mailbox cname (canonical, CheckDelete) and its
// messages; its children stay (RFC 9051 6.3.5). A mailbox created later
// under the same name gets a new UIDVALIDITY.
func DeleteMailbox(t Mailboxes, cname string) error {
	m, ok, err := t.Lookup(cname)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("delete %q: %w", cname, store.ErrNoMailbox)
	}
	return t.DeleteMailbox(m)
}

// CheckRename returns the canonical forms of a rename's names, or why it
// cannot happen whatever the account holds.
func CheckRename(oldName, newName string) (from, to string, err error) {
	if from, err = store.CanonicalMailboxName(oldName); err != nil {
		return "", "", err
	}
	if to, err = store.CanonicalMailboxName(newName); err != nil {
		return "", "", err
	}
	if to == "INBOX" {
		return "", "", fmt.Errorf("rename to INBOX: %w", store.ErrMailboxExists)
	}
	if strings.HasPrefix(to, from+"/") {
		return "", "", fmt.Errorf("rename %q into its own subtree: %w", from, store.ErrCannot)
	}
	return from, to, nil
}

// RenameMailbox renames mailbox from and its subtree to to (canonical,
// CheckRename), keeping ids and so UIDVALIDITY (RFC 9051 6.3.6); each new
// name is recorded with its UIDVALIDITY in the history. Missing parents of
// the new name are created. Renaming INBOX moves its messages to a new
// mailbox instead (renameInbox).
func RenameMailbox(t Mailboxes, from, to string) error {
	src, ok, err := t.Lookup(from)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("rename %q: %w", from, store.ErrNoMailbox)
	}
	if from == "INBOX" {
		return renameInbox(t, src, to)
	}
	if from == to {
		return fmt.Errorf("rename %q to itself: %w", from, store.ErrMailboxExists)
	}
	moves, err := t.Subtree(from)
	if err != nil {
		return err
	}
	for i := range moves {
		moves[i].Name = to + moves[i].Name[len(from):]
		if _, ok, err := t.Lookup(moves[i].Name); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("rename to %q: %w", moves[i].Name, store.ErrMailboxExists)
		}
	}
	// No new name exists, so renaming one mailbox at a time never
	// collides with a name not yet renamed.
	for _, r := range moves {
		changed, err := t.AccountChange(0)
		if err != nil {
			return err
		}
		if err := t.SetMailboxName(r.ID, r.Name, changed); err != nil {
			return err
		}
		// The new name now has this UIDVALIDITY too.
		if err := t.RecordUIDValidity(r.Name, r.UIDValidity); err != nil {
			return err
		}
	}
	return CreateParents(t, to)
}

// renameInbox implements RFC 9051 6.3.6 for INBOX: a new mailbox takes
// INBOX's messages (same UIDs, under its own new UIDVALIDITY) and its
// metadata (RFC 5464 4.1), and INBOX is left empty, the moved messages
// becoming tombstones there. INBOX's children are not renamed.
func renameInbox(t Mailboxes, inbox Mailbox, to string) error {
	if _, ok, err := t.Lookup(to); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("rename to %q: %w", to, store.ErrMailboxExists)
	}
	if err := CreateParents(t, to); err != nil {
		return err
	}
	dst, err := t.CreateMailbox(to, "")
	if err != nil {
		return err
	}
	if err := CopyMetadata(t, inbox.ID, dst); err != nil {
		return err
	}
	if inbox.Messages == 0 {
		return t.SetUIDNext(dst, inbox.UIDNext)
	}
	dstSeq, err := t.ModSeq(dst)
	if err != nil {
		return err
	}
	srcSeq, err := t.ModSeq(inbox.ID)
	if err != nil {
		return err
	}
	gone, err := t.TakeMessages(inbox, dst, dstSeq)
	if err != nil {
		return err
	}
	return AddTombstones(t, inbox.ID, gone, srcSeq)
}

// SetSubscribed adds or removes the subscription of cname, stamped with an
// account change of at least stamp (0 for a local change); a change
// already true changes nothing. The name need not exist (RFC 9051 6.3.7).
func SetSubscribed(t Mailboxes, cname string, subscribed bool, stamp uint64) error {
	is, err := t.Subscribed(cname)
	if err != nil || is == subscribed {
		return err
	}
	changed, err := t.AccountChange(stamp)
	if err != nil {
		return err
	}
	if subscribed {
		return t.Subscribe(cname, changed)
	}
	return t.Unsubscribe(cname, changed)
}

// ReplicaMailboxes is what creating a mailbox under a replica's
// UIDVALIDITY needs beyond Mailboxes.
type ReplicaMailboxes interface {
	Mailboxes
	// UIDValidityUnused reports whether the store can prove that no
	// mailbox named name ever had UIDVALIDITY v.
	UIDValidityUnused(name string, v uint32) (bool, error)
	// ReserveUIDValidity moves the account's next UIDVALIDITY past v, so
	// that the store never hands v out itself.
	ReserveUIDValidity(v uint32) error
	// SetUIDValidity gives mailbox id UIDVALIDITY v and special-use
	// special.
	SetUIDValidity(id store.MailboxID, v uint32, special store.SpecialUse) error
	// CreateMailboxAt inserts mailbox name as CreateMailbox does, with
	// UIDVALIDITY v instead of a fresh one.
	CreateMailboxAt(name string, v uint32, special store.SpecialUse) (store.MailboxID, error)
}

// CheckCreateAt returns the canonical form of name for CreateMailboxAt,
// or why no account can hold it under uidValidity (0 and 2^32-1 are
// never valid: RFC 9051 2.3.1.1 wants a non-zero 32-bit value and the
// store keeps the top one free).
func CheckCreateAt(name string, uidValidity uint32, opts store.CreateOptions) (string, error) {
	cname, err := CheckCreate(name, opts)
	if err != nil {
		return "", err
	}
	if uidValidity == 0 || uidValidity == math.MaxUint32 {
		return "", fmt.Errorf("UIDVALIDITY %d: %w", uidValidity, store.ErrUIDValidityUsed)
	}
	return cname, nil
}

// CreateMailboxAt creates mailbox cname (canonical, CheckCreateAt) with
// the UIDVALIDITY another server gave it, so that UIDs mean the same on
// both. Creating it again is a no-op; an empty mailbox of that name is
// adopted (its UIDVALIDITY replaced, which clients see as a new mailbox,
// harmless since it holds nothing); a mailbox with messages, or a
// UIDVALIDITY the name may have had before, is refused
// (store.ErrMailboxExists, store.ErrUIDValidityUsed), since reusing
// either would let a client's cached UIDs name other messages.
func CreateMailboxAt(t ReplicaMailboxes, cname string, uidValidity uint32, special store.SpecialUse) (store.MailboxInfo, error) {
	existing, exists, err := t.Lookup(cname)
	switch {
	case err != nil:
		return store.MailboxInfo{}, err
	case exists && existing.UIDValidity == uidValidity:
		return existing.MailboxInfo, nil // created by an earlier run
	case exists && (existing.UIDNext != 1 || existing.Messages != 0):
		return store.MailboxInfo{}, fmt.Errorf("create %q: %w", cname, store.ErrMailboxExists)
	}
	unused, err := t.UIDValidityUnused(cname, uidValidity)
	if err != nil {
		return store.MailboxInfo{}, err
	}
	if !unused {
		return store.MailboxInfo{}, fmt.Errorf("mailbox %q, UIDVALIDITY %d: %w", cname, uidValidity, store.ErrUIDValidityUsed)
	}
	if err := t.ReserveUIDValidity(uidValidity); err != nil {
		return store.MailboxInfo{}, err
	}
	id := existing.ID
	if exists {
		if err := t.SetUIDValidity(id, uidValidity, special); err != nil {
			return store.MailboxInfo{}, err
		}
		if err := t.RecordUIDValidity(cname, uidValidity); err != nil {
			return store.MailboxInfo{}, err
		}
		// A new modseq, so that the change is published and sessions
		// look again.
		if _, err := t.ModSeq(id); err != nil {
			return store.MailboxInfo{}, err
		}
	} else {
		if err := CreateParents(t, cname); err != nil {
			return store.MailboxInfo{}, err
		}
		if id, err = t.CreateMailboxAt(cname, uidValidity, special); err != nil {
			return store.MailboxInfo{}, err
		}
	}
	m, err := t.Mailbox(id)
	return m.MailboxInfo, err
}
