package store

import "errors"

// Errors returned by stores. Backends wrap them with detail (fmt.Errorf
// "%w"); callers test with errors.Is. The IMAP layer maps each to a
// response code (RFC 5530).
var (
	ErrNoUser         = errors.New("no such user")
	ErrUserExists     = errors.New("user already exists")
	ErrNoMailbox      = errors.New("no such mailbox")            // NONEXISTENT / TRYCREATE
	ErrMailboxExists  = errors.New("mailbox already exists")     // ALREADYEXISTS
	ErrInvalidName    = errors.New("invalid mailbox name")       // CANNOT
	ErrCannot         = errors.New("operation not permitted")    // CANNOT, e.g. DELETE INBOX
	ErrInvalidUID     = errors.New("UID out of range")           // BAD
	ErrTooBig         = errors.New("message exceeds size limit") // TOOBIG
	ErrInvalidKeyword = errors.New("invalid keyword")            // BAD
	ErrOverQuota      = errors.New("over quota")                 // OVERQUOTA
	// ErrNoSpace means the storage under the store is full (a disk with no
	// space left, a filesystem quota, a database that cannot grow). The
	// change was not made, nothing stored was damaged, and the same call
	// can succeed once space returns: a temporary failure, not the user's
	// quota (ErrOverQuota).
	ErrNoSpace = errors.New("mail storage full")
	// ErrIO means the storage under the store failed a read, write or
	// sync (an I/O error from the disk). A write that fails with it was
	// not made; the operation may succeed if retried.
	ErrIO = errors.New("mail storage I/O error")
	// ErrUserDeleted is returned by a handle whose user's store was deleted
	// while it was open (by another process, such as `tidemark user del`):
	// the handle must not be used again, and the session holding it ends.
	ErrUserDeleted = errors.New("user store deleted")
)

// Revocable is implemented by Accounts whose store can be deleted while
// they are open. Revoked reports that it was: such a handle, and anything
// cached through it, must not serve the name's next owner.
type Revocable interface {
	Revoked() bool
}

// IsRevoked reports whether a is a Revocable whose store was deleted.
func IsRevoked(a Account) bool {
	r, ok := a.(Revocable)
	return ok && r.Revoked()
}
