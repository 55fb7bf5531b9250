package server

import "github.com/tidemark-mail/tidemark/internal/wire"

// UIDONLY (RFC 9586): after ENABLE UIDONLY a session speaks of messages by
// UID alone. Commands that take message sequence numbers — FETCH, STORE,
// SEARCH, COPY, MOVE, REPLACE without UID, a sequence set in a search key,
// QRESYNC's seq-match-data — are answered BAD [UIDREQUIRED] (the first
// group by the dispatcher, from the command table's UsesSeqs); FETCH
// responses become "* uid UIDFETCH (...)", whose UID item appears only
// when asked for; and expunges are reported as VANISHED, never EXPUNGE
// (RFC 9586 3). EXISTS keeps counting messages.
func init() {
	enableable["UIDONLY"] = true
	addCapability("UIDONLY", nil)
}

// uidOnly says whether the client enabled UIDONLY.
func (s *Session) uidOnly() bool { return s.enabled["UIDONLY"] }

// errUIDRequired answers a use of sequence numbers under UIDONLY.
func errUIDRequired() *Error {
	return Bad("UIDREQUIRED", "Message sequence numbers are not allowed once UIDONLY is enabled")
}

// fetchStart begins an untagged FETCH response for the message with
// sequence number seq and UID uid: "* seq FETCH (", or under UIDONLY
// "* uid UIDFETCH (" (RFC 9586 3.3).
func (s *Session) fetchStart(seq uint32, uid uint32) *wire.Encoder {
	if s.uidOnly() {
		return s.Untagged().Number(uid).Raw(" UIDFETCH (")
	}
	return s.Untagged().Number(seq).Raw(" FETCH (")
}
