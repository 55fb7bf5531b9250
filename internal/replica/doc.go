// Package replica keeps two or more Tidemark servers' copies of a user in
// step, in both directions (docs/replication.md).
//
// # Model
//
// A sync is run by one side (the initiator) against two Sides: its own
// store (Local) and a peer reached over an authenticated TLS connection
// (Client, served by Server). The engine reads both, decides, and writes
// both; because every rule is symmetric with deterministic tie-breaks, the
// result does not depend on which side initiated.
//
// Per user, first the account level: mailboxes are matched by replicated
// id (store.MailboxInfo.GUID), never by name; creates, renames, deletes,
// special-use and subscriptions are settled by comparing the two account
// states (who changed what since the other last applied, else the later
// stamp). Then per mailbox: each side's ChangesSince the modseq the other
// side last applied (the same range scans a QRESYNC client costs), the
// messages in play looked up on both sides, one rule per case (see
// mailbox.go), and one store.ApplyBatch per side carrying the new sync
// state in the same transaction. Bodies travel only when the receiver
// lacks their content hash, and those over 1 MiB in chunks (stream.go).
// ACL entries and URLAUTH keys are settled after the account level, by
// their stamps (sharing.go).
//
// State lives in the stores (store.PeerState per peer node and mailbox),
// written with the changes it covers, so a sync interrupted at any point
// (a lost connection, kill -9 of either side) resumes from the last
// committed point; changes resent after a crash are already true and
// allocate nothing.
package replica
