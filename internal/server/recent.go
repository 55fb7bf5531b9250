package server

import (
	"github.com/tidemark-mail/tidemark/internal/openbox"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/view"
)

// \Recent for IMAP4rev1 sessions (RFC 3501 2.3.2, 6.3.1, 6.4.4, 7.3.2).
//
// A message is recent for exactly one session: the first that selects its
// mailbox read-write, or that has it selected read-write when the message
// arrives, after the message was added (APPEND, COPY, MOVE, delivery). The
// store keeps one durable number per mailbox, the recent floor
// (store.RecentStore); a session claims [floor, UIDNEXT it has seen) by
// raising it, atomically, so two sessions never claim the same message and
// a claim survives restarts. A claim is not a flag change: no modseq, no
// FETCH to other sessions.
//
// EXAMINE (read-only) sessions claim nothing; they see as recent the
// messages still unclaimed when they learn of them, as Dovecot does. STATUS
// RECENT counts the unclaimed messages. Sessions that enabled IMAP4rev2
// neither see nor claim \Recent (RFC 9051 dropped it), so they take nothing
// away from IMAP4rev1 clients of the same mailbox.

// recentStore returns the account's \Recent state, nil if the backend
// keeps none (then no message is ever recent).
func (s *Session) recentStore() store.RecentStore {
	if s.shared != nil {
		// Another user's mailbox: \Recent stays the owner's.
		return nil
	}
	rs, _ := s.acct.(store.RecentStore)
	return rs
}

// isRecent reports whether uid is \Recent for this session.
func (s *Session) isRecent(uid store.UID) bool {
	return len(s.recent) > 0 && !s.Rev2() && s.recent.Contains(uid)
}

// recentUIDs is the set SEARCH RECENT, NEW and OLD test against.
func (s *Session) recentUIDs() store.UIDSet {
	if s.Rev2() {
		return nil
	}
	return s.recent
}

// claimRecent takes the messages of v below upTo that the session has not
// looked at yet: claims them in a read-write IMAP4rev1 session, or only
// reads the floor in a read-only one. It returns how many messages of v
// are recent for the session.
func (s *Session) claimRecent(v *view.View, box *openbox.Box, upTo store.UID) (uint32, error) {
	rs := s.recentStore()
	if rs == nil || s.Rev2() || upTo <= s.recentUpTo {
		return v.CountIn(s.recent), nil
	}
	claim := upTo
	if v.ReadOnly {
		claim = 0
	}
	ask := func() (prev, after store.UID, err error) {
		prev, err = rs.ClaimRecent(s.ctx(), v.Mailbox.ID, claim)
		// A read-write claim leaves the floor at upTo at least (upTo never
		// passes UIDNEXT: it comes from what the session has seen).
		return prev, max(prev, claim), err
	}
	var prev store.UID
	var err error
	if box != nil && box.MailboxID() == v.Mailbox.ID {
		// The sessions of one mailbox share the claims: one store query
		// per batch of new messages, not one per session (openbox).
		prev, err = box.ClaimRecent(upTo, ask)
	} else {
		prev, _, err = ask()
	}
	if err != nil {
		return v.CountIn(s.recent), err
	}
	// Ours: from where we last looked, or the floor if another session
	// claimed beyond that, up to upTo.
	if lo := max(prev, s.recentUpTo, 1); lo < upTo {
		s.recent.AddRange(lo, upTo-1)
	}
	s.recentUpTo = upTo
	return v.CountIn(s.recent), nil
}

// syncRecent runs after a sync point announced new messages (EXISTS):
// they are claimed like at SELECT, and an IMAP4rev1 client is told the new
// RECENT count (RFC 3501 7.3.2).
func (s *Session) syncRecent() {
	if s.Rev2() || s.view == nil {
		return
	}
	n, err := s.claimRecent(s.view, s.box, s.view.HighestUID()+1)
	if err != nil {
		// Nothing was claimed: the messages stay recent for the next
		// session. The client still gets a consistent count.
		s.log.Warn("claiming recent messages failed", "err", err)
	}
	s.Untagged().Number(n).Raw(" RECENT").CRLF()
}

// statusRecent is STATUS RECENT: the messages no session has claimed.
func (s *Session) statusRecent(id store.MailboxID) uint32 {
	rs := s.recentStore()
	if rs == nil {
		return 0
	}
	n, err := rs.RecentCount(s.ctx(), id)
	if err != nil {
		s.log.Warn("counting recent messages failed", "err", err)
	}
	return n
}
