// Package mailimport moves mail between a Tidemark store and the two common
// file formats: Maildir++ directories and mbox files.
//
// # Model
//
// Import reads a source one message at a time into a spool (memory, or a
// temporary file past a threshold, so large messages never sit in memory
// whole), hashing the bytes as they will be stored. Messages are appended in
// batches, one store transaction per batch. A message whose SHA-256 (which is
// the store's BlobID) already exists in the target mailbox is skipped, so
// running the same import twice adds nothing.
//
// Flags travel with the messages: in Maildir file names (":2,DFPRST" and
// lowercase letters resolved through the folder's dovecot-keywords file), and
// in mbox through the Status, X-Status and X-Keywords header fields, which
// import removes from the stored message and export writes back. That makes
// import → export → import exact: the same bytes, flags, keywords, dates and
// folders.
//
// Formats read and written:
//
//   - mboxrd and mboxo (MboxReader, MboxWriter): messages separated by From_
//     lines at the start of the file or after an empty line; quoting of body
//     lines that begin with "From " per variant. Export writes mboxrd, one
//     file per mailbox named "<mailbox>.mbox", sub-mailboxes in
//     subdirectories ("Archive/2023" → Archive/2023.mbox).
//   - Maildir++ (cur/ and new/, folders as ".Name.Sub" directories of the
//     root, folder names in modified UTF-7; a '.' inside a name component is
//     written as "&AC4-" so that it cannot be taken for the hierarchy
//     separator).
//
// Bare LF line endings become CRLF, the form IMAP sends (RFC 5322 2.1):
// an LF-only source is stored with CRLF line endings, a CRLF one as it is.
package mailimport
