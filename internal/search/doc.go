// Package search is Tidemark's SEARCH criteria: the parse of an IMAP
// search-program into a tree of keys (RFC 9051 6.4.4, with RFC 3501's NEW,
// OLD and RECENT, RFC 5032 OLDER/YOUNGER, RFC 8514 SAVED*, RFC 7162 MODSEQ
// and RFC 8474 EMAILID/THREADID), and the evaluation of that tree against
// one message.
//
// # Model
//
// A Program is one search-program: an optional CHARSET and a Key tree whose
// root is the AND of the keys the client sent. Sequence-number and UID
// sets are kept as the client wrote them (wire.SeqSet, including "$") and
// resolved to UIDs once, against the session's view, by Program.Resolve:
// evaluation then only ever deals with UIDs.
//
// Keys need data of three costs, the Level of a key:
//
//   - LevelState: UID, flags and modseq, which an open mailbox keeps in
//     memory;
//   - LevelData: the message's stored metadata (dates, size, the envelope
//     fields decoded at delivery), one database row;
//   - LevelBody: the message's bytes (BODY, TEXT, HEADER), a blob read.
//
// Evaluation is three-valued: with only part of a message's data at hand,
// Match answers yes, no, or "cannot tell yet". The caller evaluates every
// candidate with the cheapest data first and fetches more only for the
// messages still undecided, so "UNSEEN OR BODY x FLAGGED" opens no blob for
// a flagged message, and "UNSEEN" never leaves memory.
//
// String keys compare substrings after case folding, against text decoded
// to UTF-8 (RFC 2047 words, transfer encodings and charsets), through
// package message's matchers. Dates compare calendar days: INTERNALDATE
// and SAVEDATE in the zone they were stored with, the Date header in its
// own zone (RFC 9051 6.4.4: "disregarding time and timezone").
package search
