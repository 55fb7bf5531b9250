package server

import "strings"

// capability is one word of the CAPABILITY response and when it is
// offered.
type capability struct {
	name string
	when func(s *Session) bool // nil: always
	// spell, when set, gives the word for the session instead of name,
	// for capabilities that carry a configured value ("APPENDLIMIT=n").
	spell func(s *Session) string
}

// capabilities is the one list every CAPABILITY response is built from.
// Command files add their extensions from init with addCapability; the
// order of registration is the order of the response.
var capabilities []capability

// addCapability offers name whenever when returns true (always if nil).
func addCapability(name string, when func(s *Session) bool) {
	capabilities = append(capabilities, capability{name: name, when: when})
}

// addCapabilityFunc offers the word spell returns, whenever when returns
// true (always if nil).
func addCapabilityFunc(spell func(s *Session) string, when func(s *Session) bool) {
	capabilities = append(capabilities, capability{when: when, spell: spell})
}

func beforeAuth(s *Session) bool { return s.state == StateNotAuthenticated }
func afterAuth(s *Session) bool  { return s.state != StateNotAuthenticated }

// plaintextAuthAllowed says whether passwords may be sent on this
// connection: over TLS, from loopback, or when configured (RFC 9051 6.2.3).
func (s *Session) plaintextAuthAllowed() bool {
	return s.tls || s.isLoopback() && !s.srv.cfg.NoLoopbackPlaintext || s.srv.cfg.AllowPlaintextAuth
}

func init() {
	addCapability("IMAP4rev1", nil)
	addCapability("IMAP4rev2", nil)
	addCapability("LITERAL+", nil)
	addCapability("SASL-IR", nil)
	addCapability("ID", nil)
	addCapability("ENABLE", nil)
	addCapability("IDLE", nil)
	addCapability("UNSELECT", nil)
	addCapability("CONDSTORE", nil)
	addCapability("UTF8=ACCEPT", afterAuth)
}

// capabilityString is the space-separated list for this session now.
func (s *Session) capabilityString() string {
	var b strings.Builder
	for _, c := range capabilities {
		if c.when != nil && !c.when(s) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		if c.spell != nil {
			b.WriteString(c.spell(s))
		} else {
			b.WriteString(c.name)
		}
	}
	return b.String()
}
