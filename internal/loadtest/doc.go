// Package loadtest measures an IMAP server from the outside, over a socket,
// the way a client sees it: wall-clock time from writing a command to reading
// its tagged completion, and the exact number of response bytes the server
// sent for it.
//
// It owns a deliberately small IMAP client (Client) that speaks the protocol
// over a net.Conn with one bufio reader and writer: tagged commands, literals
// in both directions (synchronizing, or LITERAL+ non-synchronizing when the
// server advertises it, RFC 7888), and MULTIAPPEND (RFC 3502). It is not a
// general client library: it keeps no mailbox model and interprets only the
// few response items a benchmark needs (EXISTS, UIDVALIDITY, HIGHESTMODSEQ,
// STATUS MESSAGES, FLAGS), so its own cost per response byte stays small and
// constant and the figures measure the server.
//
// Model: a Config names the server, the account and the corpus of messages
// (split from an mbox file by SplitMbox). Each scenario (see Scenarios) is a
// function that prepares what it needs untimed — typically a mailbox
// "bench-N" holding exactly N messages, built once by Populate and reused on
// later runs when STATUS says it already holds N — and then times Reps
// repetitions of one operation, reporting the median and 90th percentile and
// the bytes received. Every request loop is bounded in count and in time, and
// Dial refuses any address that is not loopback: the tool is for measuring a
// server on this machine side by side with a reference server.
package loadtest
