// Package sqlitestore is Tidemark's embedded store backend: it implements
// store.Store with one SQLite metadata database per user (pure-Go driver,
// WAL mode) and a content-addressed blob directory for message bytes.
//
// # Layout
//
//	DIR/users/<name>/meta.db        metadata (schema below), WAL mode
//	DIR/users/<name>/manifest.json  durable modseq floor and UIDVALIDITY counter
//	DIR/users/<name>/blobs/ab/ab..  message bytes, see package blob
//
// User names are case-insensitive: they are folded to lower case, so
// "Alice" and "alice" are one user, stored as "alice". A name is 1 to 128
// characters from a-z, 0-9 and ".-_@+", starting with a letter or digit, so
// it can never climb out of DIR/users nor name a hidden file.
//
// # Schema, version 1 (PRAGMA user_version = 1)
//
// meta(key, value): key/value integers.
//   - "modseq_floor": the modseq reservation this database last agreed on
//     with the manifest; every modseq in the database is below it.
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
//
// subscriptions(name): subscribed names (RFC 9051 6.3.7). Names, not ids:
// a subscription outlives the mailbox and is left alone by renames.
//
// contents: one row per delivered message, shared by its copies.
//   - id: INTEGER PRIMARY KEY AUTOINCREMENT.
//   - blob_id: hex SHA-256 of the bytes (file in blobs/).
//   - size: RFC822.SIZE.
//   - internaldate (unix seconds), internaldate_zone (seconds east of UTC).
//   - email_id, thread_id: RFC 8474 object ids.
//   - structure: message.Structure.Marshal output.
//
// messages: one row per message in a mailbox (WITHOUT ROWID, primary key
// (mailbox_id, uid)). The hot columns only, so flag updates rewrite small
// rows.
//   - mailbox_id, uid.
//   - modseq: modseq of the message's last change.
//   - flags: store.SystemFlags bitmask.
//   - keywords: normalized keywords joined by single spaces (” for none).
//   - savedate: unix seconds (RFC 8514 SAVEDATE).
//   - size: copy of contents.size, so counters need no join.
//   - content_id: contents.id.
//
// tombstones: expunged UIDs (WITHOUT ROWID, primary key (mailbox_id,
// uid_start)). uid_start..uid_stop were expunged at modseq. The UIDs of one
// expunge are compacted into ranges of consecutive UIDs, and a range is
// extended when a later expunge at the same modseq continues it.
//
// thread_refs(message_id, thread_id): Message-IDs seen at delivery (the
// message's own and those it refers to) and the thread they belong to.
//
// Indexes: messages (mailbox_id, uid) (the primary key) for the message
// list; messages (mailbox_id, modseq) and tombstones (mailbox_id, modseq)
// for the two range scans that answer ChangesSince; messages (content_id)
// to find contents no longer referenced. No foreign key constraints are
// declared (they would cost on every insert); Check verifies the
// references instead.
//
// # Write path
//
// One writer per user: a mutex plus BEGIN IMMEDIATE on a single writer
// connection. Message bytes are written and fsynced to the blob store
// before the metadata transaction starts; the transaction commits with
// synchronous=FULL, so a returned call is durable. Hub notifications are
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
// detected; the window is reservationStep modseqs wide.
package sqlitestore
