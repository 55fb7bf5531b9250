package server

import (
	"errors"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/urlauth"
)

// GENURLAUTH (RFC 4467 6.2): sign URL rumps to the user's own messages.
// Every URL is checked before any is signed, so the command signs all or
// none; a mailbox without an access key gets one.
func init() {
	register(&Command{Name: "GENURLAUTH", States: authenticated, Run: runGenURLAuth})
}

func runGenURLAuth(s *Session, c *Cmd) error {
	type pair struct{ rump, mech string }
	var pairs []pair
	d := c.Dec
	for {
		if err := d.SP(); err != nil {
			return err
		}
		rump, err := d.Astring()
		if err != nil {
			return err
		}
		if err := d.SP(); err != nil {
			return err
		}
		mech, err := d.Atom()
		if err != nil {
			return err
		}
		pairs = append(pairs, pair{rump, mech})
		if b, err := d.Peek(); err != nil || b != ' ' {
			break
		}
	}
	if err := c.End(); err != nil {
		return err
	}
	if !s.srv.hasAccessKeys() {
		return Bad("CLIENTBUG", "URLAUTH is not supported")
	}
	ctx := s.ctx()
	type signing struct {
		rump string
		mb   store.MailboxID
	}
	var todo []signing
	for _, p := range pairs {
		if !strings.EqualFold(p.mech, urlauth.Internal) {
			return No("", "Unknown URLAUTH mechanism "+clipLen(p.mech))
		}
		ua, err := urlauth.Parse(p.rump)
		if err != nil {
			return badURL(p.rump, "Bad URL: "+err.Error())
		}
		if ua.Mechanism != "" {
			return badURL(p.rump, "A URL rump has no verifier")
		}
		u, _, err := parseMessageURL(ua.Message)
		if err != nil {
			return badURL(p.rump, "Bad URL: "+err.Error())
		}
		// RFC 4467 6.2: the URL's user is the one logged in.
		if !strings.EqualFold(ua.Owner, s.user) {
			return badURL(p.rump, "The URL names another user")
		}
		mb, err := s.acct.Mailbox(ctx, u.mailbox)
		if errors.Is(err, store.ErrNoMailbox) || errors.Is(err, store.ErrInvalidName) {
			return badURL(p.rump, "No such mailbox")
		}
		if err != nil {
			return err
		}
		if u.uidValidity != 0 && u.uidValidity != mb.UIDValidity {
			return badURL(p.rump, "UIDVALIDITY has changed")
		}
		todo = append(todo, signing{p.rump, mb.ID})
	}
	ks, err := s.openAccessKeys(s.user)
	if err != nil {
		return err
	}
	defer ks.Close()
	urls := make([]string, len(todo))
	for i, t := range todo {
		key, err := ks.AccessKey(ctx, t.mb, true)
		if errors.Is(err, store.ErrNoMailbox) {
			return badURL(t.rump, "No such mailbox")
		}
		if err != nil {
			return err
		}
		urls[i] = urlauth.Sign(key, t.rump)
	}
	e := s.Untagged().Raw("GENURLAUTH")
	for _, u := range urls {
		e.SP().String(u)
	}
	e.CRLF()
	return s.enc.Err()
}
