package server

import (
	"errors"
	"log/slog"

	"github.com/tidemark-mail/tidemark/internal/auth"
)

// LOGIN (RFC 9051 6.2.3). LOGINDISABLED is advertised, and LOGIN refused,
// where passwords would cross the network in clear.
func init() {
	register(&Command{Name: "LOGIN", States: StateNotAuthenticated, Run: runLogin})
	addCapability("LOGINDISABLED", func(s *Session) bool { return beforeAuth(s) && !s.plaintextAuthAllowed() })
}

func runLogin(s *Session, c *Cmd) error {
	d := c.Dec
	var user, pass string
	err := d.SP()
	if err == nil {
		user, err = d.Astring()
	}
	if err == nil {
		err = d.SP()
	}
	if err == nil {
		pass, err = d.Astring()
	}
	if err == nil {
		err = c.End()
	}
	if err != nil {
		return err
	}
	if err := s.login(user, pass); err != nil {
		return err
	}
	c.Code = "CAPABILITY " + s.capabilityString()
	c.Text = "Logged in"
	return nil
}

// login checks a password and opens the user's store: the common end of
// LOGIN and AUTHENTICATE.
func (s *Session) login(name, password string) error {
	if !s.plaintextAuthAllowed() {
		return No("PRIVACYREQUIRED", "Use STARTTLS or a TLS connection to log in")
	}
	user, err := auth.NormalizeName(name)
	if err != nil {
		user = name // let the authenticator answer, in constant time
	}
	err = s.srv.cfg.Auth.Authenticate(s.ctx(), user, password, s.remote)
	switch {
	case err == nil:
	case errors.Is(err, ErrAuthFailed):
		s.logClient(slog.LevelInfo, "login failed", "user", clipLen(name))
		s.srv.obs.AuthFailed(false)
		return No("AUTHENTICATIONFAILED", "Invalid credentials")
	case errors.Is(err, ErrThrottled):
		s.logClient(slog.LevelWarn, "login throttled", "user", clipLen(name))
		s.srv.obs.AuthFailed(true)
		return No("UNAVAILABLE", "Too many failed logins, try again later")
	default:
		return &Error{Status: NO, Code: "UNAVAILABLE", Text: "Authentication temporarily unavailable", internal: err}
	}
	if l := s.srv.cfg.Limiter; l != nil {
		release, ok := l.AcquireUser(user)
		if !ok {
			return No("LIMIT", "Too many sessions for this user")
		}
		s.releaseUser = release
	}
	acct, err := s.srv.cfg.Store.Open(s.ctx(), user)
	if err != nil {
		if s.releaseUser != nil {
			s.releaseUser()
			s.releaseUser = nil
		}
		return err
	}
	s.acct = acct
	s.user = user
	s.state = StateAuthenticated
	s.anonLog = s.log
	s.log = s.log.With("user", user)
	s.log.Info("logged in")
	s.createDefaults()
	return nil
}
