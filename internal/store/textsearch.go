package store

import "context"

// TextField is what part of a message a text search reads, one per SEARCH
// key that compares strings (RFC 9051 6.4.4).
type TextField uint8

const (
	TextBody    TextField = iota // BODY: decoded text parts, encapsulated headers
	TextText                     // TEXT: the top-level header and BODY
	TextHeader                   // HEADER name value: the top-level header (any field)
	TextSubject                  // SUBJECT: the decoded Subject
	TextFrom                     // FROM: decoded addresses and group names
	TextTo                       // TO
	TextCc                       // CC
	TextBcc                      // BCC
)

// TextHits is a text index's answer for one mailbox: Sure holds the UIDs
// whose messages contain the string, Maybe those the index cannot decide
// (their text was too long to index whole, or the field is only a
// superset, as for HEADER); every other message does not match. OK is
// false when the index cannot answer at all (not built yet, or the
// store has none): the caller then scans.
type TextHits struct {
	OK          bool
	Sure, Maybe UIDSet
}

// TextSearcher is implemented by accounts whose store keeps a substring
// index of message text. The needle is already case-folded
// (message.IndexableNeedle), at least three characters long; the answer is
// exact for every message outside Maybe, with IMAP's semantics: a
// case-insensitive substring of text decoded from its transfer encoding
// and charset. Only messages of mailbox with UIDs in within are reported.
type TextSearcher interface {
	SearchText(ctx context.Context, mailbox MailboxID, field TextField, needle string, within UIDSet) (TextHits, error)
}

// SearchText asks a's text index, when it has one; otherwise the answer
// is not OK.
func SearchText(ctx context.Context, a Account, mailbox MailboxID, field TextField, needle string, within UIDSet) (TextHits, error) {
	if ts, ok := a.(TextSearcher); ok {
		return ts.SearchText(ctx, mailbox, field, needle, within)
	}
	return TextHits{}, nil
}

// Reindexer is implemented by stores that can rebuild a user's text index
// (tidemark reindex, tidemark check --repair).
type Reindexer interface {
	Reindex(ctx context.Context, user string) error
}
