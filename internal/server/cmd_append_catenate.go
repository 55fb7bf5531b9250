package server

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// CATENATE (RFC 4469): APPEND (and REPLACE, RFC 8508 4.2) may build the
// message from pieces — literals ("TEXT {n}") and IMAP URLs (RFC 5092) to
// messages or parts of messages already stored — copied one after another
// into a spool file, then appended like any message.
//
// A URL names a message of the session's own account and nothing else:
// relative ("/Drafts;UIDVALIDITY=385759045/;UID=21/;SECTION=1.MIME", or
// ";UID=21" against the selected mailbox), or absolute for the user
// logged in ("imap://joe@host/INBOX/;UID=3"). It is resolved through the
// session's store handle, which holds this user's mail alone, so no URL
// can reach another user's; an absolute URL naming another user, a URL
// with URLAUTH, a wrong UIDVALIDITY, a missing mailbox, message or part
// are all NO [BADURL url] (RFC 4469 4.1). The bytes are copied unchanged,
// as FETCH BODY[section]<partial> would send them, without setting \Seen.
// The whole message is bounded like a message literal (APPENDLIMIT:
// NO [TOOBIG]) and checked against the quota once its size is known.
func init() {
	addCapability("CATENATE", nil)
}

// isCatenate says whether the next append-data is CATENATE rather than a
// literal.
func isCatenate(d *wire.Decoder) bool {
	c, _ := d.Peek()
	return c != '{' && c != '~'
}

// readCatenate reads `"CATENATE" SP "(" cat-part *(SP cat-part) ")"` and
// assembles the message into a spool, returning it with its size. check
// is asked about the size once the message is whole. The caller closes
// the spool, which may be set even with an error.
func readCatenate(s *Session, d *wire.Decoder, check func(size int64) error) (*spooledMessage, int64, error) {
	w, err := d.Atom()
	if err != nil {
		return nil, 0, err
	}
	if !strings.EqualFold(w, "CATENATE") {
		return nil, 0, Bad("", "Expected a message literal or CATENATE")
	}
	if err := d.SP(); err != nil {
		return nil, 0, err
	}
	f, err := os.CreateTemp("", "tidemark-catenate-*")
	if err != nil {
		return nil, 0, fmt.Errorf("catenate: spool: %w", err)
	}
	sp := &spooledMessage{file: f}
	limit := d.Limits().MaxAppendLiteral
	var size int64
	tooBig := No("TOOBIG", "The catenated message exceeds the APPENDLIMIT")
	err = d.List(func() error {
		kind, err := d.Atom()
		if err == nil {
			err = d.SP()
		}
		if err != nil {
			return err
		}
		switch strings.ToUpper(kind) {
		case "TEXT":
			lit, err := d.LiteralChecked(func(n int64) error {
				if size+n > limit {
					return tooBig
				}
				return nil
			})
			if err != nil {
				return literalRefusal(err)
			}
			var dst io.Writer = f
			if !lit.Binary {
				dst = nulChecker{f}
			}
			n, err := io.Copy(dst, lit)
			size += n
			if errors.Is(err, errNULFound) {
				return errNUL
			}
			return err
		case "URL":
			raw, err := d.Astring()
			if err != nil {
				return err
			}
			n, err := s.copyURL(f, raw, limit-size)
			size += n
			if errors.Is(err, errURLTooBig) {
				return tooBig
			}
			return err
		}
		return Bad("", "CATENATE parts are TEXT or URL")
	})
	if err != nil {
		return sp, size, err
	}
	if size == 0 {
		return sp, 0, No("", "Empty messages cannot be appended")
	}
	if err := check(size); err != nil {
		return sp, size, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return sp, size, fmt.Errorf("catenate: spool: %w", err)
	}
	return sp, size, nil
}

var errURLTooBig = errors.New("catenate: URL content over the size limit")

// badURL is the refusal of one URL (RFC 4469 4.1); the response code
// carries the URL as the client wrote it, minus what url-resp-text
// cannot hold.
func badURL(raw, why string) *Error {
	clean := strings.Map(func(r rune) rune {
		if r == ']' || r == '\r' || r == '\n' || r == 0 {
			return -1
		}
		return r
	}, raw)
	return No("BADURL "+clean, why)
}

// imapURL is a parsed IMAP URL naming a message or a part of one.
type imapURL struct {
	mailbox     string // "" for the selected mailbox
	uidValidity uint32 // 0 when not given
	uid         store.UID
	section     string // section-spec text, "" for the whole message
	partial     bool
	start, n    int64 // n < 0: to the end
}

// parseIMAPURL parses the message and part forms of RFC 5092 that a
// CATENATE URL may take for user (the one logged in):
//
//	[imap://[user[;AUTH=*]@]host[:port]] "/" mailbox [";UIDVALIDITY=" n]
//	    "/;UID=" n ["/;SECTION=" section] ["/;PARTIAL=" start ["." count]]
//	";UID=" n ...   (relative to the selected mailbox)
func parseIMAPURL(raw, user string) (imapURL, error) {
	u, owner, err := parseMessageURL(raw)
	if err != nil {
		return u, err
	}
	if owner != "" && !strings.EqualFold(owner, user) {
		// RFC 4469 3: only the current session's messages.
		return u, errors.New("the URL names another user")
	}
	return u, nil
}

// parseMessageURL parses the forms parseIMAPURL takes, returning the user
// an absolute URL names ("" for a relative one) without judging it.
func parseMessageURL(raw string) (u imapURL, owner string, err error) {
	rest := raw
	if len(rest) > 7 && strings.EqualFold(rest[:7], "imap://") {
		rest = rest[7:]
		slash := strings.IndexByte(rest, '/')
		if slash < 0 {
			return u, "", errors.New("no message in the URL")
		}
		authority := rest[:slash]
		rest = rest[slash:]
		at := strings.LastIndexByte(authority, '@')
		if at < 0 {
			return u, "", errors.New("the URL names no user")
		}
		who := authority[:at]
		if i := strings.IndexByte(who, ';'); i >= 0 {
			who = who[:i]
		}
		if owner, err = url.PathUnescape(who); err != nil || owner == "" {
			return u, "", errors.New("bad user in the URL")
		}
	}
	var params string
	switch {
	case strings.HasPrefix(rest, "/"):
		// The mailbox runs up to ";UIDVALIDITY=" or "/;".
		path := rest[1:]
		end := strings.Index(path, "/;")
		if end < 0 {
			return u, "", errors.New("no UID in the URL")
		}
		mbox := path[:end]
		params = path[end+1:]
		if i := indexFold(mbox, ";UIDVALIDITY="); i >= 0 {
			v, err := strconv.ParseUint(mbox[i+len(";UIDVALIDITY="):], 10, 32)
			if err != nil || v == 0 {
				return u, "", errors.New("bad UIDVALIDITY")
			}
			u.uidValidity = uint32(v)
			mbox = mbox[:i]
		}
		name, err := url.PathUnescape(mbox)
		if err != nil || name == "" || !utf8.ValidString(name) {
			return u, "", errors.New("bad mailbox name")
		}
		u.mailbox = name
	case len(rest) > 0 && rest[0] == ';':
		params = rest
	default:
		return u, "", errors.New("not an IMAP message URL")
	}
	// params: ";UID=n" ["/;SECTION=s"] ["/;PARTIAL=a[.b]"]
	for i, p := range strings.Split(params, "/") {
		key, val, ok := strings.Cut(p, "=")
		if !ok || !strings.HasPrefix(key, ";") {
			return u, "", errors.New("bad URL parameter")
		}
		key = strings.ToUpper(key[1:])
		switch {
		case i == 0 && key == "UID":
			v, err := strconv.ParseUint(val, 10, 32)
			if err != nil || v == 0 {
				return u, "", errors.New("bad UID")
			}
			u.uid = store.UID(v)
		case i > 0 && key == "SECTION" && u.section == "" && !u.partial:
			s, err := url.PathUnescape(val)
			if err != nil || s == "" {
				return u, "", errors.New("bad section")
			}
			u.section = s
		case i > 0 && key == "PARTIAL" && !u.partial:
			a, b, hasCount := strings.Cut(val, ".")
			start, err := strconv.ParseInt(a, 10, 64)
			if err != nil || start < 0 {
				return u, "", errors.New("bad partial range")
			}
			u.partial, u.start, u.n = true, start, -1
			if hasCount {
				n, err := strconv.ParseInt(b, 10, 64)
				if err != nil || n <= 0 {
					return u, "", errors.New("bad partial range")
				}
				u.n = n
			}
		default:
			// URLAUTH, EXPIRE and anything else this server does not
			// resolve.
			return u, "", fmt.Errorf("URL parameter %s is not supported", key)
		}
	}
	if u.uid == 0 {
		return u, "", errors.New("no UID in the URL")
	}
	return u, owner, nil
}

func indexFold(s, sub string) int {
	return strings.Index(strings.ToUpper(s), strings.ToUpper(sub))
}

// copyURL writes the content a URL names to w: at most max bytes, else
// errURLTooBig. Every other failure is a BADURL refusal. A URL carrying
// URLAUTH (RFC 4469 5) is checked like URLFETCH checks it, and may then
// name another user's message.
func (s *Session) copyURL(w io.Writer, raw string, max int64) (int64, error) {
	t, why, err := s.resolveURL(raw, false)
	if err != nil {
		return 0, err
	}
	if why != "" {
		return 0, badURL(raw, why)
	}
	defer t.release()
	var n int64
	found, err := t.message(s.ctx(), func(m *store.MessageData, b store.Blob) error {
		sr, err := message.Section(m.Structure, b, t.spec)
		if err != nil {
			return badURL(raw, "No such part")
		}
		off, size := partRange(t.rangeItem(), sr.Size())
		if size > max {
			return errURLTooBig
		}
		n, err = io.Copy(w, io.NewSectionReader(sr, off, size))
		return err
	})
	if err != nil {
		return n, err
	}
	if !found {
		return 0, badURL(raw, "No such message")
	}
	return n, nil
}
