// Package migrate copies a user's mail from another IMAP server into a
// Tidemark store, and keeps the copy up to date on later runs.
//
// # Model
//
// A migration reaches the target only through store.Store: an Account for
// what clients can do too (list, create, rename, delete, subscribe) and a
// store.Replica for what a copy needs (a mailbox with the source's
// UIDVALIDITY, messages at the source's UIDs, lookups by content hash, and
// sync state written in the same transaction as the changes it covers).
// So it runs unchanged on any backend.
//
// Per source mailbox the sync state (see state.go) holds the source's
// UIDVALIDITY, the next source UID to fetch, the source HIGHESTMODSEQ up to
// which every change is applied, the target mailbox id, and the map from
// source UIDs to target UIDs (runs; one run when UIDs are kept). Each batch
// of messages is applied with the state it leads to, in one transaction, so
// a run killed at any moment leaves a target and a state that agree: the
// next run neither copies a message twice nor skips one.
//
// A run:
//  1. logs in (implicit TLS, or STARTTLS when offered), enables QRESYNC
//     when offered, and lists the mailboxes with their special use and
//     subscriptions (LIST-EXTENDED, else LIST and LSUB), and with
//     LIST-STATUS (RFC 5819) their UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ;
//  2. follows renames (a mailbox whose state's UIDVALIDITY reappears under
//     a new name: the target is renamed, keeping its id and messages) and
//     deletions (the target is deleted);
//  3. per mailbox: nothing when LIST-STATUS shows it unchanged; else
//     EXAMINE, and when HIGHESTMODSEQ and UIDNEXT are those of the state,
//     nothing more. Otherwise the changes to known
//     messages are fetched — with QRESYNC "UID FETCH 1:n (FLAGS)
//     (CHANGEDSINCE m VANISHED)" (RFC 7162 3.2.6), with CONDSTORE the same
//     without VANISHED plus the UID list (ESEARCH when offered), without
//     either every message's flags and the UID list — and applied as one
//     batch; then the new messages are streamed with one "UID FETCH n:*
//     (UID FLAGS INTERNALDATE BODY.PEEK[])" while a second goroutine
//     applies them in batches, so the copy is bound neither by round trips
//     nor by waiting for one side;
//  4. mirrors subscriptions.
//
// A target mailbox that is new, or has never held a message (a new user's
// INBOX), takes the source's UIDVALIDITY and each message its source UID,
// and UIDNEXT follows the source's: a client that cached the old server's
// mailbox keeps its cache. A target that already holds mail, and a source
// whose UIDVALIDITY changed, are matched by content hash instead: a message
// whose bytes the target holds is mapped to it rather than stored again.
//
// The source side uses the small IMAP client in source.go; see there for
// why not go-imap's.
package migrate
