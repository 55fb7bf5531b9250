// Package sqlitestore is Tidemark's embedded store backend: it implements
// store.Store with one SQLite metadata database per user (pure-Go driver,
// WAL mode) holding the metadata and the bodies of small messages, and a
// content-addressed blob directory for the bytes of larger ones.
//
// # Layout
//
//	DIR/users/<name>/meta.db        metadata and small bodies (schema below), WAL mode
//	DIR/users/<name>/manifest.json  durable modseq floor and UIDVALIDITY counter
//	DIR/users/<name>/blobs/ab/ab..  bytes of larger messages, see package blob
//	DIR/shared/<identifier>/<owner> empty marker: owner's database may hold ACL entries naming identifier (acl.go)
//
// User names are case-insensitive: they are folded to lower case, so
// "Alice" and "alice" are one user, stored as "alice". A name is 1 to 128
// characters from a-z, 0-9 and ".-_@+", starting with a letter or digit, so
// it can never climb out of DIR/users nor name a hidden file.
//
// # Schema, version 16 (PRAGMA user_version = 16)
//
// Databases of older versions are converted in place when opened; a newer
// version is refused. Version 16 split the text index's header and body
// into text_header and text_body (textindex.go); converting a complete
// index sets text_index_split_upto and text_index_split_done, and the old
// text_index answers for the contents the background indexer has not
// moved to the new tables yet (textsplit.go); an index never built is
// dropped, Reindex's to build. Version 15 added the sharing_peers table; converting
// only creates it. Version 14 changed no table: bodies written since
// are compressed with the body dictionary (compress.go, internal/bodypack) and
// new contents rows keep no preview (summary.go); rows written before read
// as they are, and the number keeps an older program, which could read
// neither, from opening the database. Version 13 added acl.stamp and access_keys.stamp
// (replication of ACLs and access keys, sharing.go); converting sets them
// to 0. Version 11 added the access_keys table (URLAUTH
// mailbox access keys); converting only creates it. Version 10 added the acl table (RFC 4314 access
// control lists); converting only creates it. Version 9 added contents.sort_keys and
// contents.preview (the summary, summary.go); converting leaves them NULL
// for the stored messages, whose keys and previews are then computed when
// read, until `tidemark reindex` (Store.Reindex) fills them in. Version 8 added the metadata table (RFC 5464
// annotations); converting only creates it. Version 7 added the text index (text_index,
// text_index_partial, meta.text_index_missing_upto); converting marks
// every stored message missing from it, so SEARCH scans until `tidemark
// reindex` (Store.Reindex) builds it. Version 6 added the replication columns and tables
// (mailboxes.guid, changed and history_from, subscriptions.changed,
// mailbox_tombstones, unsubscribed, replica_state, flag_history,
// expunged_ids); the
// conversion gives every existing mailbox a fresh guid. Version 1 kept
// flags and modseq in one row per message (see migrateV1). Version 2 had no bodies table and no
// contents_blob index: every body was a blob file; converting it only
// creates the two, and the existing files stay where they are (a body is
// looked up in the bodies table first, then in blobs/). Version 3 had no
// mailboxes.recent_uid; converting adds it set to each mailbox's uidnext,
// so messages stored before the upgrade are not \Recent. Version 4 had no
// sync_state and uidvalidity_history; converting it creates them and
// records the mailboxes' current (name, UIDVALIDITY) pairs.
//
// meta(key, value): key/value integers.
//   - "text_index_drop:<id>" (value: id): a dropped contents row whose
//     text index rows are still to be deleted (expunge.go; at most 256,
//     only with the index written behind).
//   - "defaults_given": present (1) once the account got its default
//     mailboxes (store.DefaultCreator).
//   - "modseq_floor": the modseq reservation this database last agreed on
//     with the manifest; every modseq in the database is below it.
//   - "uidvalidity_history_from": uidvalidity_history is complete for
//     values at or above this one (0 for a database created at version 5
//     or later; for a converted one, the manifest's next UIDVALIDITY when
//     it was converted; raised when a restored database is detected).
//   - "account_counter": the account change counter (store.AccountState);
//     every create, rename, delete, special-use and subscription change
//     takes the next value as its stamp (writeTx.accountChange); a peer's
//     change keeps the peer's stamp and moves the counter past it.
//   - "text_index_missing_upto": contents rows with an id at or below it
//     may have no text index rows (an upgraded database, a rebuild under
//     way, appends with Options.NoTextIndex, which raise it); while it is
//     not 0 the text index answers no search. 0 for a database created
//     at version 7.
//   - "text_index_split_upto", "text_index_split_done" (X, S): present
//     while a schema 16 conversion runs: contents with an id in (S, X]
//     have their header and body in text_index, the others in text_body
//     and text_header (textsplit.go).
//   - "text_index_pending_after": present while the background indexer
//     has a backlog (Options.TextIndexBehind, textbehind.go): contents
//     rows with an id above it have no index rows yet, and SEARCH scans
//     them. No schema step: absent means no backlog.
//
// text_body(rowid = contents.id; body), text_header(rowid = contents.id;
// header) and text_index_fields(rowid = contents.id; subject, addr_from, addr_to,
// addr_cc, addr_bcc): FTS5 tables, trigram tokenizer,
// case-sensitive, contentless with contentless_delete: the case-folded
// text SEARCH compares (message.IndexText), written in the transaction
// that inserts the contents row and deleted in the one that drops it.
// text_index_partial(content_id): contents whose body text was cut at
// message.MaxIndexedBody or could not be read; BODY and TEXT treat them
// as undecided. See textindex.go.
//
// sync_state(peer, key, value): store.Replica sync state, opaque values
// per peer and key (WITHOUT ROWID, primary key (peer, key)), written in
// the transaction whose changes they cover.
//
// uidvalidity_history(name, uidvalidity): every UIDVALIDITY a mailbox name
// has had (at creation, adoption by a Replica, as the new name of a
// rename), never deleted: Replica.CreateMailbox accepts a chosen value only
// when the pair is absent and the value is at or above
// meta.uidvalidity_history_from.
//
// mailboxes: one row per mailbox.
//   - id: INTEGER PRIMARY KEY AUTOINCREMENT, so never reused (store.MailboxID).
//   - name: full name, '/' delimited, "INBOX" spelled in upper case, unique.
//     The hierarchy is the names themselves: a missing parent is simply a
//     name with no row (CreateMailbox makes parents; DeleteMailbox leaves
//     children in place).
//   - uidvalidity: from the manifest's strictly increasing counter, so a
//     recreated name never repeats an old value.
//   - uidnext, highestmodseq: RFC 9051 UIDNEXT and RFC 7162 HIGHESTMODSEQ.
//   - special_use: RFC 6154 attribute or ”.
//   - messages, unseen, deleted, size: STATUS counters, updated in the same
//     transaction as the messages they count.
//   - pruned_below: tombstones with modseq <= this value were pruned; 0 when
//     history is complete.
//   - recent_uid: the recent floor (store.RecentStore): the lowest UID no
//     session has claimed as \Recent (RFC 3501 2.3.2); 1 for a new mailbox.
//     A read-write SELECT of an IMAP4rev1 session raises it to the UIDNEXT
//     it has seen, in a write transaction that allocates no modseq; STATUS
//     RECENT counts the messages at or above it.
//   - guid: the replicated id ('M' and 24 hex digits, or a peer's), unique,
//     kept by rename; the RFC 8474 MAILBOXID.
//   - changed: account counter of the last create, rename or special-use
//     change; created: that of its creation here.
//   - history_from: a flag change to a message whose modseq is at or below
//     it records the flags it replaces in flag_history (0: none).
//
// subscriptions(name, changed): subscribed names (RFC 9051 6.3.7) and the
// account counter of the subscription. Names, not ids: a subscription
// outlives the mailbox and is left alone by renames. unsubscribed(name,
// changed) remembers removed subscriptions for replication.
//
// mailbox_tombstones(guid, name, changed, seen): deleted mailboxes, so that a
// replica can tell "deleted here" from "created there"; pruned once every
// peer confirmed the delete (PruneMailboxTombstones).
// seen (version 12) is store.MailboxTombstone.Seen, EMAILIDs separated by
// spaces, NULL when not recorded; such a row stays when the mailbox is
// created again under its GUID.
//
// replica_state(peer, guid, applied, confirmed, uidnext): store.PeerState
// per peer node and mailbox guid ("" for the account level); written in the
// transaction that applies the changes it covers, and only raised. The
// lowest confirmed of a mailbox bounds PruneTombstones.
//
// expunged_ids(mailbox_id, uid, email_id, modseq): for a mailbox with a
// flag history point (one that has been synced), the EMAILID each
// expunged UID held and the expunge's modseq; pruned with the tombstones.
//
// flag_history(mailbox_id, uid, modseq, replaced, flags, keywords): the
// flags (system flags, keyword set id) a message had at modseq, recorded
// when a change at modseq replaced overwrote them; rows replaced at or
// below every peer's confirmed point are deleted.
//
// flag_stamps(mailbox_id, uid, flag, stamp) (version 12, flagstamps.go):
// store.FlagStamps, per message and flag (store.FlagName) whose value a
// change gave since the message arrived in a synced mailbox, the stamp of
// that change; no row: stamp 0. Triggers delete a message's rows with it
// (expunge, mailbox deleted, INBOX renamed).
//
// contents: one row per delivered message, shared by its copies.
//   - id: INTEGER PRIMARY KEY AUTOINCREMENT.
//   - blob_id: hex SHA-256 of the bytes, the content id: the key of a
//     bodies row or the name of a file in blobs/ (or both, for a body
//     stored as a file before version 3 and appended again since).
//   - size: RFC822.SIZE.
//   - internaldate (unix seconds), internaldate_zone (seconds east of UTC).
//   - email_id, thread_id: RFC 8474 object ids.
//   - structure: message.Structure.Marshal output.
//   - sort_keys: sortthread.EncodeKeys of the structure, read by
//     Account.MessageKeys for SORT and THREAD; NULL before version 9.
//   - preview: the RFC 8970 preview (message.Preview), kept by rows
//     written from version 9 to 13; NULL otherwise, and computed by
//     ReadMessages from the structure and the body (read.go).
//
// bodies: message bytes stored in the database, one row per distinct
// content; written in the transaction that adds the first message naming
// it, deleted by reclamation some time after the last contents row naming
// it is dropped (see reclaim.go).
//   - id: TEXT PRIMARY KEY, the content id (contents.blob_id).
//   - data: the message bytes, at most Options.InlineBodyMax when written
//     (DefaultInlineBodyMax, 64 KiB, unless configured), as they are or as
//     one zstd frame when that saves an eighth or more (compress.go: a
//     stored body begins with the zstd magic number exactly when it is
//     compressed); length(data) is the bytes stored.
//
// A message lives in two places: its immutable facts in a messages row,
// its mutable state (flags, keywords, modseq) as an entry of a
// message_chunks row. A flag change never touches messages; an append or
// expunge changes both in one transaction.
//
// messages: one row per message in a mailbox (WITHOUT ROWID, primary key
// (mailbox_id, uid)), never updated.
//   - mailbox_id, uid.
//   - savedate: unix seconds (RFC 8514 SAVEDATE).
//   - size: copy of contents.size, so counters need no join.
//   - content_id: contents.id.
//
// message_chunks: the mutable state of up to chunkMax (256) messages of
// one mailbox with consecutive UIDs, packed (see chunk.go). Chunks of a
// mailbox never overlap; only the last one grows.
//   - id: INTEGER PRIMARY KEY.
//   - mailbox_id.
//   - first_uid, last_uid: the lowest and highest UID of its entries.
//   - count: the number of entries (never 0: an emptied chunk is deleted).
//   - max_modseq: the largest modseq of its entries.
//   - data: the entries, ascending by UID; per entry uvarint(UID minus the
//     previous entry's UID, starting from 0), uvarint(max_modseq minus the
//     entry's modseq), one byte of store.SystemFlags, uvarint(keyword set
//     id).
//
// keyword_sets: every distinct keyword list messages have had.
//   - id: INTEGER PRIMARY KEY AUTOINCREMENT; 0 (no row) is the empty set.
//   - keywords: normalized keywords (store.NormalizeKeywords, spelling
//     kept) joined by single spaces; unique. Rows are never changed or
//     deleted, so ids can be cached.
//
// tombstones: expunged UIDs (WITHOUT ROWID, primary key (mailbox_id,
// uid_start)). uid_start..uid_stop were expunged at or before modseq. The
// UIDs of one expunge are compacted into ranges of consecutive UIDs, and a
// range that touches an existing row, of any earlier expunge, is merged
// with it at the later modseq: rows are the runs of expunged UIDs. Ranges
// never overlap.
//
// thread_refs(message_id, thread_id): Message-IDs seen at delivery (the
// message's own and those it refers to) and the thread they belong to.
//
// access_keys(mailbox_id, key, stamp): the URLAUTH mailbox access key of
// each mailbox that has one (RFC 4467 3, accesskey.go), 32 random octets,
// or an empty key for one removed (kept so that the removal replicates);
// stamp orders it against a peer's (store.AccessKeyRecord). A trigger
// deletes it with its mailbox.
//
// metadata(mailbox_id, name, value, modseq, stamp): RFC 5464 entries (metadata.go),
// primary key (mailbox_id, name). mailbox_id 0 holds server entries; name
// is the entry name in lower case; value NULL marks a deleted entry (kept,
// so MetadataChangedSince sees deletions); modseq is the mailbox modseq of
// the entry's last change (for server entries, a counter of their own:
// one above the highest server entry's); stamp (version 12) is the stamp
// a peer's change kept (store.MetadataEntry.Stamp), 0 for a change made
// here (its modseq). Index (mailbox_id, modseq) for "changed since". A
// trigger deletes a mailbox's entries with its row.
//
// acl(mailbox_id, identifier, rights, stamp): RFC 4314 entries (acl.go),
// primary key (mailbox_id, identifier), index (identifier). identifier is
// a user name or "anyone"; rights the letters package acl stores ("lrs"),
// empty for an entry removed (kept so that the removal replicates); stamp
// orders it against a peer's (store.ACLRecord). A
// trigger deletes a mailbox's entries with its row; RENAME keeps them (the
// id stays). A removal row goes once every replication peer holds it and
// it is older than the retention (PruneSharing).
//
// sharing_peers(peer, kind, mailbox, identifier, stamp, removed): per
// replication peer, the ACL entries (kind 0) and access keys (kind 1) of
// mailboxes (by GUID) both replicas held when their last exchange of them
// ended; kind 2 marks the peer known (store.SharingPeers,
// sharingpeers.go).
//
// Indexes: messages (mailbox_id, uid) (the primary key) for the message
// list; message_chunks (mailbox_id, first_uid) to find the chunks of a UID
// range; message_chunks (mailbox_id, max_modseq) and tombstones
// (mailbox_id, modseq) for the two range scans that answer ChangesSince
// (only chunks holding a change are read); messages (content_id) to find
// contents no longer referenced; contents (blob_id) to find bodies no
// longer referenced. No foreign key constraints are declared
// (they would cost on every insert); Check verifies the references
// instead.
//
// # Write path
//
// One writer per user: a mutex plus BEGIN IMMEDIATE on a single writer
// connection. Append reads each body before the transaction: one of at
// most InlineBodyMax bytes is kept in memory (up to 32 MiB per call) and
// inserted into bodies by the transaction itself, so the WAL commit makes
// bytes and metadata durable together, one fsync for the whole batch; a
// larger one is streamed to the blob store, and the batch's files are
// fsynced before the transaction starts. The store syncs the WAL after
// the commit (durable.go), so a returned call is durable unless its caller
// deferred that with store.DeferSync and calls MakeDurable before
// answering. COPY and MOVE share
// contents rows and never copy bytes. A transaction that drops the last
// contents row naming a body leaves the body (bodies row or file) in
// place, since a session may still read it; reclamation removes it later,
// in the background when Options.ReclaimEvery is set or by
// Store.CollectBlobs, never in the write path (reclaim.go gives the rule
// that keeps it safe). Hub notifications are
// published after the commit, never before. Every modseq is allocated by
// one function (writeTx.modseq): HIGHESTMODSEQ+1, once per mailbox per
// transaction, and only when something actually changes.
//
// # The modseq floor
//
// manifest.json holds a modseq reservation above every modseq ever handed
// out by this user's store, written and fsynced before a transaction may
// use modseqs beyond the previous reservation (and stored in meta too). On
// opening, a database whose meta.modseq_floor matches neither the current
// nor the previous reservation is older than the manifest (restored from
// backup or rebuilt): every mailbox then gets HIGHESTMODSEQ at the
// reservation and a fresh UIDVALIDITY, so no client can mistake it for the
// state it saw. A restore taken within one reservation window is not
// detected; the window is reservationStep modseqs wide. Another process
// may hold the same user's store open (tidemark deliver next to serve), so
// a transaction rereads the manifest before it uses or rewrites it.
//
// # Other processes
//
// Commits by other processes are published on this process's hub by a
// poller per open user database (see watch.go): PRAGMA data_version on a
// dedicated connection, every pollInterval, then a comparison of
// HIGHESTMODSEQs with those last known.
package sqlitestore
