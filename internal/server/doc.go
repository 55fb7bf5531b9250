// Package server is Tidemark's IMAP server: listeners (plain with
// STARTTLS, implicit TLS), one goroutine per connection, the state machine
// (not authenticated, authenticated, selected, logout), the command table
// and the dispatcher, limits, and the commands of the protocol core.
//
// # Flow of a command
//
// The connection goroutine waits for a command's first byte, reads the tag
// and name with the wire.Decoder and looks the name up in the command
// table. The dispatcher answers BAD for an unknown command or one not valid
// in the current state; otherwise the command's Run parses its own
// arguments from the decoder, reads the final CRLF (Cmd.End), calls the
// store and writes untagged responses. Then comes the sync point: the
// selected view (package view) asks the store what changed since it last
// looked and writes EXISTS / FETCH FLAGS / EXPUNGE or VANISHED, holding
// expunges back when the command's declaration forbids them
// (RFC 9051 7.4.1, 5.5); after EXISTS an IMAP4rev1 session claims the new
// messages' \Recent and writes RECENT (recent.go). Last, the tagged OK/NO/BAD is written and
// everything is flushed in one write.
//
// # Adding a command
//
// A command lives in its own file, cmd_<name>.go, with transcript tests in
// cmd_<name>_test.go. The file's init calls register with a Command that
// declares its name, the states it is valid in, whether it is a UID
// variant, whether it relies on sequence numbers (UsesSeqs) and whether it
// expunges (Expunges); the dispatcher applies the timing rules from these.
// An extension the file implements is advertised by calling addCapability
// from the same init. Handlers use:
//
//   - Cmd.Dec to parse arguments (wire.Decoder methods follow the ABNF),
//     Cmd.End to finish the line, Cmd.Code / Cmd.Text for the tagged OK;
//   - Session.Account for the user's store, Session.View for the selected
//     mailbox, Session.SeqSetUIDs to turn a sequence or UID set into store
//     UIDs, Session.ReadMailbox for mailbox names (modified UTF-7 aware; a
//     name that is not valid modified UTF-7 is errNameNotMUTF7, NO);
//   - Session.Untagged to write responses ("* ..."), with literals
//     streamed through wire.Encoder.Literal, and Session.WriteFetchFlags
//     for flag changes (FLAGS lists go through Encoder.FlagsRecent with
//     Session.isRecent); message content always as a literal;
//     View.MarkReported after reporting a change the
//     command made itself, so the sync point does not repeat it;
//   - Session.Enabled / EnableCondstore / Rev2 for enabled extensions;
//   - errors: return No(code, text) / Bad(code, text), a *wire.Error, or
//     the store's error as is: protocolError maps store errors to RFC 5530
//     response codes in one place.
//
// # Concurrency
//
// Everything a session holds belongs to its goroutine, except the fields
// under Session.mu that Shutdown touches. IDLE reads the client's DONE in
// a second goroutine while the first writes updates; no other command
// reads and writes concurrently. Shutdown says BYE to connections waiting
// for a command, lets running commands finish, and wakes IDLE.
package server
