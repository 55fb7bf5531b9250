// Package storetx holds the rules both store backends follow inside a
// write transaction: how an expunge leaves tombstones and merges them with
// its neighbours, when tombstones may be pruned, what REPLACE does when
// the old message is gone, how mailboxes are created, deleted, renamed and
// subscribed to, and how METADATA limits are checked and its modseqs
// chosen.
//
// A backend supplies its statements through small interfaces (Tx,
// Expunger, Mailboxes, MetadataTx), each method one step in the backend's
// own SQL; the functions here decide which steps run and in what order.
// Every function runs inside the caller's write transaction and returns
// its errors unchanged, so a backend that retries a transaction simply
// calls it again.
package storetx
