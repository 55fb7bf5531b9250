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
)
