package server

import (
	"encoding/base64"
	"errors"
	"strings"

	"github.com/emersion/go-sasl"
)

// AUTHENTICATE (RFC 9051 6.2.2) with PLAIN (RFC 4616) and LOGIN, an
// initial response on the command line (SASL-IR, RFC 4959), and "*" to
// cancel.
func init() {
	register(&Command{Name: "AUTHENTICATE", States: StateNotAuthenticated, Run: runAuthenticate})
	addCapability("AUTH=PLAIN", func(s *Session) bool { return beforeAuth(s) && s.plaintextAuthAllowed() })
	addCapability("AUTH=LOGIN", func(s *Session) bool { return beforeAuth(s) && s.plaintextAuthAllowed() })
}

// saslCredentials carries a SASL exchange's outcome from the mechanism
// callback to the command: the mechanism only decodes, login decides.
type saslCredentials struct{ user, password string }

func runAuthenticate(s *Session, c *Cmd) error {
	d := c.Dec
	var mech, ir string
	hasIR := false
	err := d.SP()
	if err == nil {
		mech, err = d.Atom()
	}
	if err == nil && d.Special(' ') {
		hasIR = true
		// base64 (with "=" padding) is made of atom chars; "=" alone is
		// an empty initial response (RFC 4959 3).
		ir, err = d.Atom()
	}
	if err == nil {
		err = c.End()
	}
	if err != nil {
		return err
	}
	if !s.plaintextAuthAllowed() {
		return No("PRIVACYREQUIRED", "Use STARTTLS or a TLS connection to authenticate")
	}
	var creds *saslCredentials
	var server sasl.Server
	switch strings.ToUpper(mech) {
	case "PLAIN":
		server = sasl.NewPlainServer(func(identity, user, password string) error {
			if identity != "" && identity != user {
				return No("AUTHORIZATIONFAILED", "Cannot act as another user")
			}
			creds = &saslCredentials{user, password}
			return nil
		})
	case "LOGIN":
		server = &loginMechanism{done: func(user, password string) { creds = &saslCredentials{user, password} }}
	default:
		return No("CANNOT", "Unsupported authentication mechanism")
	}

	var response []byte
	if hasIR {
		if ir != "=" {
			if response, err = base64.StdEncoding.DecodeString(ir); err != nil {
				return Bad("", "Invalid base64 in initial response")
			}
		}
	}
	for {
		challenge, done, err := server.Next(response)
		if err != nil {
			var pe *Error
			if errors.As(err, &pe) {
				return pe
			}
			return No("AUTHENTICATIONFAILED", "Invalid credentials")
		}
		if done {
			break
		}
		if err := s.continuation(base64.StdEncoding.EncodeToString(challenge)); err != nil {
			return err
		}
		line, err := s.dec.Line()
		if err != nil {
			return err
		}
		if line == "*" {
			return Bad("", "Authentication cancelled")
		}
		if response, err = base64.StdEncoding.DecodeString(line); err != nil {
			return Bad("", "Invalid base64 in response")
		}
	}
	if creds == nil {
		return No("AUTHENTICATIONFAILED", "Invalid credentials")
	}
	if err := s.login(creds.user, creds.password); err != nil {
		return err
	}
	c.Code = "CAPABILITY " + s.capabilityString()
	c.Text = "Authenticated"
	return nil
}

// loginMechanism is the non-standard but widespread LOGIN SASL mechanism:
// the server asks "Username:" then "Password:".
type loginMechanism struct {
	step int
	user string
	done func(user, password string)
}

func (m *loginMechanism) Next(response []byte) (challenge []byte, done bool, err error) {
	switch m.step {
	case 0:
		m.step = 1
		if len(response) > 0 { // an initial response carries the user name
			m.user = string(response)
			m.step = 2
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		m.user = string(response)
		m.step = 2
		return []byte("Password:"), false, nil
	case 2:
		m.step = 3
		m.done(m.user, string(response))
		return nil, true, nil
	}
	return nil, false, errors.New("server: unexpected LOGIN step")
}
