package sqlitestore

import "github.com/tidemark-mail/tidemark/internal/store"

// Names are checked the same way by every backend (package store).

// ErrInvalidUserName is wrapped in errors about malformed user names.
var ErrInvalidUserName = store.ErrInvalidUserName

// ValidUserName folds a user name to its stored form (lower case) and
// checks it; see store.ValidUserName.
func ValidUserName(name string) (string, error) { return store.ValidUserName(name) }

func canonicalMailboxName(name string) (string, error) { return store.CanonicalMailboxName(name) }

func validSpecialUse(u store.SpecialUse) bool { return store.ValidSpecialUse(u) }
