package server

import (
	"bufio"
	"context"
	"errors"
	"math"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/message"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/urlauth"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// URLAUTH (RFC 4467) and URLAUTH=BINARY (RFC 5524): GENURLAUTH signs an
// IMAP URL to one of the user's messages with the mailbox access key of
// its mailbox, URLFETCH (and CATENATE's URL parts) read what a signed URL
// names — in any user's mailbox — for a session the URL's access
// identifier admits, and RESETKEY replaces keys, revoking what they
// signed. Keys live in the store (store.AccessKeys); the extension is
// offered only on stores that keep them.
//
// A URL is checked in this order, each failure answered alike (URLFETCH:
// NIL; CATENATE: NO [BADURL]) so nothing tells a forger why: syntax, a
// verifier of the INTERNAL mechanism, the expiry against Config.Now, the
// access identifier against the session's user, the owner, the mailbox
// and its UIDVALIDITY, the token against the mailbox's key, and only then
// the message and part. Nothing read through a URL sets \Seen.

func init() {
	addCapability("URLAUTH", func(s *Session) bool { return afterAuth(s) && s.srv.hasAccessKeys() })
	addCapability("URLAUTH=BINARY", func(s *Session) bool { return afterAuth(s) && s.srv.hasAccessKeys() })
}

// hasAccessKeys reports whether the store keeps URLAUTH access keys.
func (srv *Server) hasAccessKeys() bool {
	_, ok := srv.cfg.Store.(store.AccessKeyStore)
	return ok
}

// openAccessKeys opens user's access keys for one command.
func (s *Session) openAccessKeys(user string) (store.AccessKeys, error) {
	ks, ok := s.srv.cfg.Store.(store.AccessKeyStore)
	if !ok {
		return nil, Bad("CLIENTBUG", "URLAUTH is not supported")
	}
	return ks.OpenAccessKeys(s.ctx(), user)
}

// isSubmitter reports whether the session's user is a submission server's
// account, which "submit+" URLs admit (Config.URLAuthSubmitters).
func (s *Session) isSubmitter() bool {
	for _, u := range s.srv.cfg.URLAuthSubmitters {
		if strings.EqualFold(u, s.user) {
			return true
		}
	}
	return false
}

// urlTarget is a URL resolved to a mailbox the session may read through
// it; release gives back the account handle when it is another user's.
type urlTarget struct {
	acct    store.Account
	mb      store.MailboxInfo
	u       imapURL
	spec    message.SectionSpec
	release func()
}

// rangeItem expresses the URL's ;PARTIAL= as a FETCH partial, for
// partRange.
func (t *urlTarget) rangeItem() *fetchItem {
	it := &fetchItem{partial: t.u.partial, start: t.u.start, count: t.u.n}
	if t.u.n < 0 {
		it.count = math.MaxInt64
	}
	return it
}

// message calls fn with the URL's message, if it exists, and its bytes.
// A part the message does not have counts as no message.
func (t *urlTarget) message(ctx context.Context, fn func(m *store.MessageData, b store.Blob) error) (found bool, err error) {
	err = t.acct.Messages(ctx, t.mb.ID, store.UIDSet{{Start: t.u.uid, Stop: t.u.uid}}, func(m *store.MessageData) error {
		// FETCH gives an empty string for a part that does not exist; a
		// URL to one names nothing (RFC 4469 4.1).
		if len(t.spec.Part) > 0 && m.Structure.Lookup(t.spec.Part) == nil {
			return nil
		}
		found = true
		b, err := t.acct.OpenBlob(ctx, m.BlobID)
		if err != nil {
			return err
		}
		defer b.Close()
		return fn(m, b)
	})
	return found, err
}

// resolveURL resolves raw for this session. A URL carrying URLAUTH, or any
// URL when authorizedOnly is set, must be a URLAUTH-authorized URL that
// admits this session; otherwise it names a message of the session's own
// account. A URL that names nothing the session may read gives a reason
// and no error; the error is the store's.
func (s *Session) resolveURL(raw string, authorizedOnly bool) (t urlTarget, why string, err error) {
	t.release = func() {}
	ctx := s.ctx()
	var ua urlauth.URL
	authorized := authorizedOnly || strings.Contains(strings.ToUpper(raw), ";URLAUTH=")
	if authorized {
		if !s.srv.hasAccessKeys() {
			return t, "URLAUTH is not supported", nil
		}
		if ua, err = urlauth.Parse(raw); err != nil {
			return t, "Bad URL: " + err.Error(), nil
		}
		switch {
		case ua.Mechanism == "":
			return t, "The URL is not authorized", nil
		case ua.Mechanism != urlauth.Internal:
			return t, "Unknown URLAUTH mechanism", nil
		case ua.Expired(s.srv.cfg.Now()):
			return t, "The URL has expired", nil
		case !ua.Access.Allows(s.user, s.isSubmitter()):
			return t, "The URL is not for this user", nil
		}
		raw = ua.Message
	}
	u, owner, err := parseMessageURL(raw)
	if err != nil {
		return t, "Bad URL: " + err.Error(), nil
	}
	t.u = u
	if !authorized && owner != "" && !strings.EqualFold(owner, s.user) {
		// RFC 4469 3: without URLAUTH, only the session's own messages.
		return t, "The URL names another user", nil
	}
	if u.section != "" {
		sd := wire.NewDecoder(bufio.NewReader(strings.NewReader(u.section+"]")), wire.Limits{})
		spec, _, err := readSection(sd)
		if _, perr := sd.Peek(); err == nil && perr == nil {
			err = errors.New("text after the section")
		}
		if err != nil {
			return t, "Bad section", nil
		}
		t.spec = spec
	}
	t.acct = s.acct
	if authorized && !strings.EqualFold(ua.Owner, s.user) {
		a, err := s.srv.cfg.Store.Open(ctx, ua.Owner)
		if errors.Is(err, store.ErrNoUser) {
			return t, "No such user", nil
		}
		if err != nil {
			return t, "", err
		}
		t.acct, t.release = a, func() { a.Close() }
	}
	done := func(why string, err error) (urlTarget, string, error) {
		if why != "" || err != nil {
			t.release()
			t.release = func() {}
		}
		return t, why, err
	}
	if u.mailbox == "" {
		if s.view == nil || s.shared != nil {
			// A relative URL names the user's own selected mailbox only
			// (not another user's, whose ids are that user's).
			return done("No mailbox of yours selected for a relative URL", nil)
		}
		t.mb = s.view.Mailbox
	} else if t.mb, err = t.acct.Mailbox(ctx, u.mailbox); err != nil {
		if errors.Is(err, store.ErrNoMailbox) || errors.Is(err, store.ErrInvalidName) {
			return done("No such mailbox", nil)
		}
		return done("", err)
	}
	if u.uidValidity != 0 && u.uidValidity != t.mb.UIDValidity {
		return done("UIDVALIDITY has changed", nil)
	}
	if authorized {
		ks, err := s.openAccessKeys(t.acct.User())
		if err != nil {
			return done("", err)
		}
		key, err := ks.AccessKey(ctx, t.mb.ID, false)
		ks.Close()
		if errors.Is(err, store.ErrNoMailbox) {
			return done("No such mailbox", nil)
		}
		if err != nil {
			return done("", err)
		}
		if !ua.Verify(key) {
			return done("The URL's authorization is not valid", nil)
		}
	}
	return t, "", nil
}

// selectedMailbox is a session's selected mailbox as other sessions see it.
type selectedMailbox struct {
	user string
	id   store.MailboxID
}

// announceKeyReset tells the other sessions of user that have mailbox id
// selected (any mailbox of the user when id is 0) that its access key was
// reset: each says "OK [URLMECH INTERNAL]" at its next sync point (RFC
// 4467 6.1). Sessions of other processes sharing the store are not told.
func (srv *Server) announceKeyReset(from *Session, user string, id store.MailboxID) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for o := range srv.conns {
		if o == from {
			continue
		}
		if sel := o.selected.Load(); sel != nil && sel.user == user && (id == 0 || sel.id == id) {
			o.urlmechDue.Store(true)
		}
	}
}
