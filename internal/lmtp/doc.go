// Package lmtp is Tidemark's local delivery agent: an LMTP server
// (RFC 2033) that an MTA hands accepted mail to, built on go-smtp's server
// in LMTP mode.
//
// # Model
//
// A transaction names one or more recipients. Each RCPT is checked when it
// is given: the domain must be one of the configured ones, the user must
// exist in the store (store.ErrNoUser → 550 5.1.1), and, when the client
// declared a SIZE and a quota checker is set, the user must have room. The
// account handle opened by RCPT is kept until the transaction ends.
//
// After DATA the message is spooled once to an unlinked temporary file,
// then appended to each recipient from that file, so a large message is
// never held in memory whole. Each recipient gets its own reply (RFC 2033
// 4.2): a failure for one never stops delivery to the others. A 250 reply is
// sent only after the store's Append returned, that is, after the message
// is on stable storage.
//
// A Return-Path field with the envelope sender is prepended to the message
// (RFC 5321 4.4); it is the same for every recipient, so the stored bytes,
// and their content-addressed blob, are shared. Delivered-To, which would
// make each recipient's copy different, is added only when configured.
//
// Recipients may carry a sub-address: "user+folder@domain" delivers to
// user's mailbox "folder" when it exists, otherwise to INBOX.
package lmtp
