// Package wire is Tidemark's IMAP grammar: a streaming Decoder for client
// commands and an Encoder for server responses. It knows nothing about
// mailboxes, sessions or storage.
//
// # Model
//
// A command is read token by token straight from the connection's
// bufio.Reader; the Decoder's methods are named after the ABNF of RFC 9051
// section 9 (SP, CRLF, Atom, Astring, Nstring, List, SeqSet, ...), so a
// command handler reads like the grammar it implements.
//
// Literals come in three forms (RFC 9051 4.3, RFC 7888, RFC 3516):
//
//   - synchronizing "{n}": before reading the bytes the Decoder calls
//     OnSyncLiteral so the server can write "+ ..."; a literal that breaks a
//     limit is refused instead, and since the client sends nothing more for
//     that command, the command is over.
//   - non-synchronizing "{n+}" (LITERAL+, and LITERAL- when NonSyncMax is
//     4096): the bytes follow at once. One that breaks a limit is read and
//     discarded when it is no larger than Limits.MaxDiscard, so the
//     connection can continue; a larger one makes the error fatal and the
//     server answers BYE and closes (RFC 7888 section 4 allows both; we
//     pick by size).
//   - literal8 "~{n}" (RFC 3516), accepted only where the caller asks for a
//     message literal (APPEND).
//
// String and Astring read a literal into memory under Limits.MaxLiteral;
// Literal returns a reader that streams a message literal under
// Limits.MaxAppendLiteral so a large APPEND never sits in memory.
//
// # Limits and recovery
//
// Every limit in Limits is checked while reading; breaking one returns an
// *Error whose Code is the response code to send with the tagged BAD
// (TOOBIG, LIMIT) and whose Close says whether the connection must end.
// After any *Error the server calls Discard, which skips the rest of the
// command, including any non-synchronizing literals it announces, so the
// next command parses from its first byte. Errors that are not *Error come
// from the connection and end it.
//
// The Encoder writes responses into a buffer that is sent only on Flush,
// chooses between quoted strings and literals by content, and streams
// literals from an io.Reader of known size.
package wire
