// Package storetx holds the rules both store backends follow inside a
// write transaction: how an expunge leaves tombstones and merges them with
// its neighbours, when tombstones may be pruned, what COPY, MOVE and
// REPLACE report and leave behind, how mailboxes are created, deleted,
// renamed and subscribed to, how an account gets its default mailboxes,
// how METADATA limits are checked and its modseqs chosen, and what a
// peer's batch of changes expunges and at which modseqs.
//
// A backend supplies its statements through small interfaces (Tx,
// Expunger, Copier, Mailboxes, Defaults, MetadataTx, Applier), each method one step
// in the backend's own SQL; the functions here decide which steps run and
// in what order. The names refused whatever an account holds are checked
// before a transaction opens (CheckCreate, CheckDelete, CheckRename,
// CanonicalDefaults, CheckMetadataSize).
// Every function runs inside the caller's write transaction and returns
// its errors unchanged, so a backend that retries a transaction simply
// calls it again.
package storetx
