// Package urlauth is the URL side of URLAUTH (RFC 4467): reading the
// URLAUTH part of an IMAP URL (RFC 5092 authimapurl, iurlauth) and
// computing and checking the token of the INTERNAL mechanism.
//
// A URLAUTH-authorized URL is an absolute IMAP URL naming a message or a
// part of one, followed by an optional expiry, an access identifier (who
// may use it) and a verifier:
//
//	imap://joe@host/INBOX;UIDVALIDITY=5/;UID=20/;SECTION=1.2;EXPIRE=2026-03-05T00:00:00Z;URLAUTH=user+fred:INTERNAL:<token>
//	\_____________________________________________________________________________________________________/
//	                                   the rump: what the token covers
//
// The token is a keyed hash of the rump with the mailbox access key of the
// URL's mailbox (store.AccessKeys), so anything that changes the URL, its
// expiry or its access identifier breaks it, and replacing the key revokes
// every URL made with the old one. The package does not look at the
// message part: the server resolves it like any IMAP URL.
package urlauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"time"
)

// Internal is the one mechanism this server provides (RFC 4467 7).
const Internal = "INTERNAL"

// Access kinds (RFC 4467 3, RFC 5092 access).
const (
	AuthUser  = "authuser"  // any user logged in to this server
	Anonymous = "anonymous" // anyone, anonymous sessions included
	Submit    = "submit"    // a submission server acting for User
	User      = "user"      // User alone
)

// Access is an access identifier: Kind, and for Submit and User the user
// named.
type Access struct {
	Kind string
	User string
}

// URL is a URLAUTH URL (a rump when Mechanism is "").
type URL struct {
	// Raw is the URL as given.
	Raw string
	// Rump is Raw up to the access identifier included: what the token
	// covers (RFC 4467 2.1).
	Rump string
	// Message is the message URL without expiry and URLAUTH:
	// "imap://joe@host/INBOX/;UID=20/;SECTION=1.2".
	Message string
	// Owner is the user the URL names (iuserinfo), unescaped: whose
	// mailbox it is.
	Owner string
	// Expire is the expiry; zero for none.
	Expire time.Time
	Access Access
	// Mechanism is the mechanism in upper case; "" for a rump.
	Mechanism string
	// Token is the verifier's hexadecimal token, lower case.
	Token string
}

// Parse reads a URLAUTH URL, rump or full. It checks the URLAUTH part and
// the user; the message part is left to the caller.
func Parse(raw string) (URL, error) {
	u := URL{Raw: raw}
	if len(raw) < 7 || !strings.EqualFold(raw[:7], "imap://") {
		return u, errors.New("not an absolute IMAP URL")
	}
	i := lastIndexFold(raw, ";URLAUTH=")
	if i < 0 {
		return u, errors.New("no URLAUTH in the URL")
	}
	before, after := raw[:i], raw[i+len(";URLAUTH="):]
	parts := strings.Split(after, ":")
	switch len(parts) {
	case 1:
	case 3:
		u.Mechanism = strings.ToUpper(parts[1])
		if !isAtom(u.Mechanism) {
			return u, errors.New("bad mechanism")
		}
		u.Token = strings.ToLower(parts[2])
		if len(u.Token) < 32 || !isHex(u.Token) {
			return u, errors.New("bad token")
		}
	default:
		return u, errors.New("bad URLAUTH verifier")
	}
	access, err := parseAccess(parts[0])
	if err != nil {
		return u, err
	}
	u.Access = access
	u.Rump = raw[:i+len(";URLAUTH=")+len(parts[0])]
	if j := lastIndexFold(before, ";EXPIRE="); j >= 0 {
		t, err := time.Parse(time.RFC3339, before[j+len(";EXPIRE="):])
		if err != nil {
			return u, errors.New("bad EXPIRE date-time")
		}
		u.Expire = t
		before = before[:j]
	}
	u.Message = before
	authority := before[len("imap://"):]
	if k := strings.IndexByte(authority, '/'); k >= 0 {
		authority = authority[:k]
	}
	at := strings.LastIndexByte(authority, '@')
	if at <= 0 {
		return u, errors.New("the URL names no user")
	}
	who := authority[:at]
	if strings.Contains(who, ";") {
		// authimapurl has no ";AUTH=": the URL authorizes, it does not
		// authenticate (RFC 5092 11).
		return u, errors.New("an authorized URL has no AUTH")
	}
	if u.Owner, err = url.PathUnescape(who); err != nil || u.Owner == "" {
		return u, errors.New("bad user in the URL")
	}
	return u, nil
}

func parseAccess(s string) (Access, error) {
	low := strings.ToLower(s)
	switch low {
	case AuthUser, Anonymous:
		return Access{Kind: low}, nil
	}
	kind, user, ok := strings.Cut(s, "+")
	kind = strings.ToLower(kind)
	if !ok || kind != Submit && kind != User {
		return Access{}, errors.New("unknown access identifier")
	}
	u, err := url.PathUnescape(user)
	if err != nil || u == "" {
		return Access{}, errors.New("bad user in the access identifier")
	}
	return Access{Kind: kind, User: u}, nil
}

// Allows reports whether a session of user may use a URL with this access
// identifier (RFC 4467 3); submitter says whether user is a submission
// server's account. Every session here is authenticated, so "authuser"
// and "anonymous" allow anyone; user names compare case-insensitively.
func (a Access) Allows(user string, submitter bool) bool {
	switch a.Kind {
	case AuthUser, Anonymous:
		return true
	case User:
		return strings.EqualFold(a.User, user)
	case Submit:
		return submitter
	}
	return false
}

// Sign returns the full URL for rump by the INTERNAL mechanism.
func Sign(key []byte, rump string) string {
	return rump + ":" + strings.ToLower(Internal) + ":" + token(key, rump)
}

// token is the INTERNAL mechanism's token: HMAC-SHA-256 of the rump under
// the mailbox access key, in hexadecimal (RFC 4467 7 asks for HMAC-SHA1
// at least; the token is 256 bits).
func token(key []byte, rump string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(rump))
	return hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether u carries the INTERNAL token of key. A rump, or a
// URL of another mechanism, never verifies.
func (u URL) Verify(key []byte) bool {
	if u.Mechanism != Internal || len(key) == 0 {
		return false
	}
	return hmac.Equal([]byte(u.Token), []byte(token(key, u.Rump)))
}

// Expired reports whether u has an expiry at or before now.
func (u URL) Expired(now time.Time) bool {
	return !u.Expire.IsZero() && !now.Before(u.Expire)
}

// lastIndexFold is strings.LastIndex ignoring ASCII case; sub is ASCII.
func lastIndexFold(s, sub string) int {
	for i := len(s) - len(sub); i >= 0; i-- {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

func isAtom(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
