package storetx

import (
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Defaults is a backend's statements for giving an account its default
// mailboxes once (store.DefaultCreator).
type Defaults interface {
	Mailboxes
	// DefaultsGiven reports whether the account was given its defaults.
	DefaultsGiven() (bool, error)
	// MarkDefaultsGiven records that it was.
	MarkDefaultsGiven() error
	// SpecialUseTaken reports whether a mailbox has special-use use.
	SpecialUseTaken(use store.SpecialUse) (bool, error)
	// SubscribeDefault subscribes the account to a default mailbox it
	// just created.
	SubscribeDefault(name string) error
}

// CanonicalDefaults puts the names of defs in canonical form, refusing a
// name or special-use that could never be created.
func CanonicalDefaults(defs []store.DefaultMailbox) error {
	for i, d := range defs {
		cname, err := store.CanonicalMailboxName(d.Name)
		if err != nil {
			return err
		}
		if !store.ValidSpecialUse(d.SpecialUse) {
			return fmt.Errorf("special-use %q: %w", d.SpecialUse, store.ErrCannot)
		}
		defs[i].Name = cname
	}
	return nil
}

// CreateDefaults creates, subscribed, each mailbox of defs (canonical,
// CanonicalDefaults) whose name is free and whose special-use no mailbox
// has yet, unless the account was given its defaults before, and marks
// them given; it returns the mailboxes it created. The caller's write
// transaction serializes the account's writers, so of two first logins at
// once only one finds the mark absent.
func CreateDefaults(t Defaults, defs []store.DefaultMailbox) ([]store.MailboxInfo, error) {
	if given, err := t.DefaultsGiven(); err != nil || given {
		return nil, err
	}
	var created []store.MailboxInfo
	for _, d := range defs {
		if _, ok, err := t.Lookup(d.Name); err != nil {
			return nil, err
		} else if ok {
			continue
		}
		if d.SpecialUse != "" {
			if taken, err := t.SpecialUseTaken(d.SpecialUse); err != nil {
				return nil, err
			} else if taken {
				continue
			}
		}
		if err := CreateParents(t, d.Name); err != nil {
			return nil, err
		}
		id, err := t.CreateMailbox(d.Name, d.SpecialUse)
		if err != nil {
			return nil, err
		}
		if err := t.SubscribeDefault(d.Name); err != nil {
			return nil, err
		}
		m, err := t.Mailbox(id)
		if err != nil {
			return nil, err
		}
		created = append(created, m.MailboxInfo)
	}
	return created, t.MarkDefaultsGiven()
}
