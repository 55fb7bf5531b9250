// Package acl owns the rights of RFC 4314 (IMAP ACL): the set of rights a
// mailbox grants one identifier, parsing and printing them, and the
// identifiers Tidemark accepts.
//
// # Model
//
// A right is one of the eleven letters lrswipkxtea (RFC 4314 2.1). Rights
// are a bit set; a set is stored and compared in that form and printed in
// that order. The obsolete rights of RFC 2086 are virtual (2.1.1): "c"
// stands for k and x, "d" for e and t (the first of the RFC's two
// readings, the one its examples use), so "+cd" grants kxet; a printed
// set carries "c" when it holds k or x and "d" when it holds e or t, for
// RFC 2086 clients. No rights are tied together.
//
// Identifiers are user names (folded to lower case, as logins are) and the
// special identifier "anyone", meaning every authenticated user of the
// server. Negative rights ("-name", RFC 4314 2) are not supported: such an
// identifier is refused with NO, never silently stored.
//
// The owner of a mailbox always holds every right; an entry naming the
// owner is refused, since it could not take anything away.
package acl

import (
	"errors"
	"fmt"
	"strings"
)

// Rights is a set of RFC 4314 rights.
type Rights uint16

// The standard rights (RFC 4314 2.1), in the order they are printed.
const (
	Lookup         Rights = 1 << iota // l: LIST, LSUB, SUBSCRIBE
	Read                              // r: SELECT, EXAMINE, STATUS, FETCH, SEARCH, COPY from
	Seen                              // s: keep \Seen
	Write                             // w: flags other than \Seen and \Deleted
	Insert                            // i: APPEND, COPY and MOVE into
	Post                              // p: send to the mailbox's submission address (not enforced by IMAP)
	CreateMailbox                     // k: CREATE below, RENAME into
	DeleteMailbox                     // x: DELETE, RENAME away
	DeleteMessages                    // t: \Deleted
	Expunge                           // e: EXPUNGE, expunge by CLOSE and MOVE from
	Admin                             // a: SETACL, DELETEACL, GETACL, LISTRIGHTS
)

// letters names the rights in bit order.
const letters = "lrswipkxtea"

// All is every right: what the owner of a mailbox holds.
const All Rights = 1<<len(letters) - 1

// Obsolete rights of RFC 2086 (RFC 4314 2.1.1).
const (
	create = CreateMailbox | DeleteMailbox // "c"
	delete = Expunge | DeleteMessages      // "d"
)

// Extra is the RIGHTS= capability value: the rights beyond RFC 2086's
// (RFC 4314 5.1.1).
const Extra = "texk"

// Anyone is the special identifier every authenticated user matches.
const Anyone = "anyone"

// Has reports whether r holds every right of want.
func (r Rights) Has(want Rights) bool { return r&want == want }

// Any reports whether r holds at least one right of want.
func (r Rights) Any(want Rights) bool { return r&want != 0 }

// String prints the set in canonical order, followed by the virtual "c"
// and "d" when a member of theirs is held (RFC 4314 2.1.1): the form of
// ACL, MYRIGHTS and LIST-MYRIGHTS responses.
func (r Rights) String() string {
	s := r.Stored()
	if r.Any(create) {
		s += "c"
	}
	if r.Any(delete) {
		s += "d"
	}
	return s
}

// Stored prints the set without the virtual rights: the form a store
// keeps, which Parse reads back unchanged.
func (r Rights) Stored() string {
	var b strings.Builder
	for i := 0; i < len(letters); i++ {
		if r&(1<<i) != 0 {
			b.WriteByte(letters[i])
		}
	}
	return b.String()
}

// ErrBadRights is a rights string with a letter that is not a right.
var ErrBadRights = errors.New("unrecognized right")

// Parse reads a set of rights: lower-case letters, each a standard right
// or the virtual "c" or "d" (RFC 4314 2.1.1, 3.1). Anything else, upper
// case included, is an error wrapping ErrBadRights that names the letter,
// since an unrecognized right must never be ignored.
func Parse(s string) (Rights, error) {
	var r Rights
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 'c':
			r |= create
		case c == 'd':
			r |= delete
		case strings.IndexByte(letters, c) >= 0:
			r |= 1 << strings.IndexByte(letters, c)
		case c >= 'A' && c <= 'Z':
			return 0, fmt.Errorf("%w: upper-case rights are not allowed (\"%c\")", ErrBadRights, c)
		default:
			return 0, fmt.Errorf("%w: the \"%c\" right is not supported", ErrBadRights, c)
		}
	}
	return r, nil
}

// Op says how a SETACL modification combines with the rights held.
type Op int

const (
	Replace Op = iota // "rights"
	Add               // "+rights"
	Remove            // "-rights"
)

// Mod is a parsed SETACL mod-rights argument (RFC 4314 3.1).
type Mod struct {
	Op     Op
	Rights Rights
}

// ParseMod reads "+rights", "-rights" or "rights".
func ParseMod(s string) (Mod, error) {
	m := Mod{Op: Replace}
	switch {
	case strings.HasPrefix(s, "+"):
		m.Op, s = Add, s[1:]
	case strings.HasPrefix(s, "-"):
		m.Op, s = Remove, s[1:]
	}
	r, err := Parse(s)
	m.Rights = r
	return m, err
}

// Apply returns the rights an identifier holds after m, given old.
func (m Mod) Apply(old Rights) Rights {
	switch m.Op {
	case Add:
		return old | m.Rights
	case Remove:
		return old &^ m.Rights
	}
	return m.Rights
}

// ErrNegative is an identifier naming negative rights ("-name"), which
// Tidemark does not support.
var ErrNegative = errors.New("negative rights are not supported")

// ErrBadIdentifier is an identifier that is empty or cannot name a user.
var ErrBadIdentifier = errors.New("invalid identifier")

// Identifier returns the canonical form of an identifier: "anyone", or a
// user name folded to lower case as logins are. It refuses negative
// rights (ErrNegative) and empty or non-ASCII identifiers
// (ErrBadIdentifier, a BAD per RFC 4314 3: no user name is outside
// ASCII, so SASLprep leaves every accepted identifier as it is). Whether
// a user of that name exists is the caller's question.
func Identifier(id string) (string, error) {
	if id == "" {
		return "", fmt.Errorf("%w: empty", ErrBadIdentifier)
	}
	if id[0] == '-' {
		return "", ErrNegative
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return "", fmt.Errorf("%w: %q", ErrBadIdentifier, id)
		}
	}
	return strings.ToLower(id), nil
}

// For returns the rights user holds from a mailbox's entries, given its
// owner: every right for the owner, otherwise the union of the entries
// naming the user and "anyone".
func For(user, owner string, entries map[string]Rights) Rights {
	if user == owner {
		return All
	}
	return entries[user] | entries[Anyone]
}
