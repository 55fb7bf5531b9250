// Package pgstore is Tidemark's PostgreSQL store backend: it implements
// store.Store with every user's mail in one database, so that any number
// of Tidemark processes (front ends) can serve the same users. The IMAP
// layer cannot tell it from the embedded store; the same conformance suite
// (package storetest) runs against both.
//
// # Schema
//
// Versioned migrations (schema.go) are applied by Open, in one transaction
// under an advisory lock, so nodes starting together apply each exactly
// once; the version reached is recorded in tidemark_schema, and a database
// newer than the program is refused. Version 11 (1 plus the columns noted
// below):
//
// users: id (bigserial), name (ValidUserName form, unique),
// uidvalidity_next (the next UIDVALIDITY to hand out; strictly increasing),
// account_counter (the account change counter of store.AccountState: every
// create, rename, delete, special-use and subscription change takes the
// next value as its stamp, a peer's change keeps its stamp and moves the
// counter past it; version 5), uidvalidity_history_from (uidvalidity_history
// is complete from this value on: 0 for a user created at version 5 or
// later, else the user's next UIDVALIDITY at the upgrade; version 5).
// moving (version 6): the write fence of a move to another cluster
// (move.go); while set, the user's writes fail with ErrUserMoving except
// the mover's. defaults_given (version 7): the default mailboxes were
// created (store.DefaultCreator). The user's row is also the lock that
// serializes the user's writers.
//
// mailboxes: id (bigserial, global, never reused), user_id, name (full
// name, '/' delimited, "INBOX" upper case; unique per user), uidvalidity,
// uidnext, highestmodseq, special_use, the exact STATUS counters messages,
// unseen, deleted, size (changed by the transactions that change the
// messages), pruned_below (tombstones at or below it were pruned),
// recent_uid (the \Recent floor; version 2), guid (the RFC 8474
// MAILBOXID and replicated id, kept by renames, unique per user; version
// 4), changed and created (account counter of the last create, rename or
// special-use change, and of the creation; version 5), history_from (a
// flag change to a message whose modseq is at or below it records the
// flags it replaces in flag_history; 0: none; version 5).
//
// subscriptions(user_id, name, changed): subscribed names, existing or
// not, with the stamp of the subscription (changed: version 5).
//
// Version 5 added, for store.Replica (replica.go, replication.go):
// unsubscribed(user_id, name, changed), removed subscriptions;
// mailbox_tombstones(user_id, guid, name, changed, seen), deleted
// mailboxes, pruned once every peer confirmed the delete
// (PruneMailboxTombstones; seen, version 15: store.MailboxTombstone.Seen,
// kept when the mailbox is created again); uidvalidity_history(user_id, name, uidvalidity), every
// UIDVALIDITY a mailbox name has had (creation, adoption, the new name of
// a rename), never deleted; sync_state(user_id, peer, key, value), opaque
// per-peer state written with the changes it covers; replica_state(user_id,
// peer, guid, applied, confirmed, uidnext), store.PeerState, only raised,
// whose lowest confirmed bounds tombstone pruning; expunged_ids(mailbox_id,
// uid, email_id, modseq), for mailboxes with a history point the EMAILID
// each expunged UID held, pruned with the tombstones; flag_history(mailbox_id,
// uid, modseq, replaced, flags, keywords), the flags a message had at
// modseq, kept until every peer confirmed past replaced; flag_stamps(
// mailbox_id, uid, flag, stamp) (version 15, flagstamps.go), store.
// FlagStamps, per message and flag whose value a change gave since the
// message arrived in a synced mailbox, the stamp of that change (no row:
// stamp 0), deleted with the message.
//
// user_placement(name, shard, changed) (version 6): the user directory
// entries recorded by moves between clusters, read on the default cluster
// only (shardstore.Directory).
//
// settings(key, value) (version 8): store.Settings, small values every
// front end shares that are not mail (SETQUOTA limits under "quota/USER",
// retention watermarks under "retention/USER"); read on the default
// cluster only when sharded.
//
// metadata(user_id, mailbox_id, name, value, modseq, stamp): RFC 5464
// entries (version 10, metadata.go); mailbox_id 0 for server entries, name
// in lower case, value NULL once deleted (kept, so "changed since" sees
// deletions), modseq of the last change, stamp (version 15) the stamp a
// peer's change kept (store.MetadataEntry.Stamp; 0: the modseq). Index (user_id, mailbox_id, modseq); a
// trigger deletes a mailbox's entries with its row.
//
// acl(user_id, mailbox_id, identifier, rights): RFC 4314 entries (version
// 11, acl.go); identifier a user name or "anyone", rights the letters
// package acl stores. Index (identifier) for store.ACLStore.Grants.
// Triggers delete a mailbox's entries with its row and the entries naming
// a user with that user's row; the owner's go with the owner (cascade).
//
// access_keys(user_id, mailbox_id, key): URLAUTH mailbox access keys
// (version 14, accesskey.go), 32 random octets per mailbox that has one;
// a trigger deletes a mailbox's key with its row.
//
// acl.stamp and access_keys.stamp (version 15, sharing.go) order an entry
// or key against a peer replica's (store.ACLRecord,
// store.AccessKeyRecord); an entry removed keeps its row with empty
// rights, a key removed its row with an empty key, so that removals
// replicate; such a row goes once every replication peer holds it and it
// is older than the retention (PruneSharing).
//
// sharing_peers (version 19, sharingpeers.go): per user and replication
// peer, the ACL entries and access keys both replicas held when their
// last exchange of them ended (store.SharingPeers).
//
// bodies(id, size): one row per distinct content in the whole database,
// id the hex SHA-256 of the bytes; body_parts(body_id, part, data): the
// bytes in partSize (256 KiB) pieces. Shared by all users (deduplicated),
// but a user can open only a body one of its own messages names.
//
// contents: one row per delivered message, shared by its copies: user_id,
// blob_id (bodies.id, foreign key), size, internaldate (unix seconds) and
// internaldate_zone (seconds east of UTC), email_id and thread_id (RFC
// 8474), structure (message.Structure.Marshal), orphaned_at (when its last
// message went; version 3), sort_keys (sortthread.EncodeKeys) and preview
// (RFC 8970), computed at delivery (version 12, summary.go; NULL for
// contents stored before it until Reindex).
//
// messages: primary key (mailbox_id, uid); modseq of its last change,
// flags (store.SystemFlags bits), keywords (normalized text[]), savedate,
// size, content_id. One row per message. Until version 10 the index
// messages (mailbox_id, modseq) answered "changed since"; version 11 drops
// it and leaves pages half empty (fillfactor 50), so that a flag change,
// which touches no indexed column, is a heap-only update.
//
// message_changes (version 11, changelog.go): primary key (mailbox_id,
// modseq, uid_start); uid_stop. The UID ranges each write changed, at its
// modseq: "changed since M" reads the entries above M and then the
// messages in their ranges whose modseq is above M. A range never holds a
// message its write left alone, so a later write covering it whole
// removes it; inserts are logged by a trigger, updates by their
// statements, and another trigger drops the entries an expunge emptied.
//
// tombstones: primary key (mailbox_id, uid_start); uid_stop, modseq. The
// UIDs of one expunge compacted into ranges; indexed by (mailbox_id,
// modseq) for "vanished since".
//
// thread_refs(user_id, message_id, thread_id): Message-IDs seen at
// delivery and their thread.
//
// text_index (version 9, split in version 15): content_id (contents.id,
// primary key, ON DELETE CASCADE), partial (body text cut at
// message.MaxIndexedBody or unreadable: BODY and TEXT treat the message as
// undecided), body; text_index_header (content_id, header) and
// text_index_fields (content_id, subject, addr_from, addr_to, addr_cc,
// addr_bcc), text_index_subjects (content_id, subject; version 20): the
// folded text of message.IndexText, each text column a search reads with
// a pg_trgm GIN index (SUBJECT reads text_index_subjects, the narrow
// one). text_index_state
// (user_id, missing_upto): users whose contents up to that id may lack
// their row; see textindex.go.
//
// accounts, account_tombstones, account_clock (version 15, accounts.go):
// the logins, in the columns of a data directory's accounts.db, shared by
// every front end; internal/auth reads and writes them. account_peers
// (version 19): per replication peer, the account records both replicas
// held when their last full exchange ended, so that a tombstone every
// peer holds can be pruned.
//
// # Transactions
//
// A write runs at READ COMMITTED and first locks the user's users row
// (SELECT ... FOR UPDATE), so writers of one user are serialized across
// every process, as the embedded store serializes them within one; writers
// of different users never wait for each other. Inside, modseqs are
// allocated by writeTx.modseq (HIGHESTMODSEQ+1, once per mailbox and
// transaction), the UNCHANGEDSINCE test and ExpungeDeleted's \Deleted test
// read current rows, and NOTIFY is queued (see notify.go) so other nodes
// hear of the commit when it happens. A returned write is committed, and
// durable as far as the server's synchronous_commit (keep it on) and
// replication settings make commits durable.
//
// Reads that must agree with a HIGHESTMODSEQ (Snapshot, ChangesSince,
// Check) run in one REPEATABLE READ, read-only transaction. Messages reads
// a page at a time, each page consistent in itself, as the embedded store
// does.
//
// Append reads, hashes and parses each body before its transaction (up to
// 1 MiB in memory, larger ones through a temporary file); the transaction
// claims the bodies row with INSERT ... ON CONFLICT DO NOTHING and writes
// the parts only if it created it, so the same bytes are never written
// twice. Dropping the last message naming a contents row marks it
// orphaned (contents.orphaned_at, schema version 3) instead of deleting
// it: a session of any node may still be reading that message
// (store.Account.Messages). Reclaim, run by serve every few seconds
// (Options.ReclaimEvery), deletes contents orphaned longer than a grace
// period (DefaultReclaimGrace, 10 minutes) and then the bodies no contents
// row names, each guarded by a savepoint against another user's concurrent
// reuse (dropUnreferencedBodies).
//
// # The modseq floor
//
// The embedded store keeps a durable floor outside its database so that a
// rebuilt or restored database never repeats a modseq. Here the database
// is the only state: there is nothing to rebuild, and a restore of the
// whole cluster to an earlier point in time takes HIGHESTMODSEQ back with
// it. docs/deployment.md says what to do after such a restore; this
// package offers no automatic protection against it.
package pgstore
