// Package sortthread orders and threads messages for SORT and THREAD
// (RFC 5256) and SORT=DISPLAY (RFC 5957), from per-message keys computed
// once from the structure parsed at delivery.
//
// # Model
//
// A Msg holds what any sort criterion or threading algorithm compares:
// the dates, the size, the first From/To/Cc address's mailbox and display
// value, the base subject (section 2.1) and whether its extraction removed
// a reply or forward marker, the Message-ID and the references. Every
// string is already in i;unicode-casemap form (RFC 5051), so comparing two
// keys is a byte comparison. A message's keys never change (its bytes never
// do), so a Cache kept with an open mailbox computes them once per UID and
// a second SORT or THREAD on the same mailbox reads no message data.
//
// Sort orders Msgs by a list of criteria, ties by sequence order, which is
// the order of the input (ascending UID). Thread builds the trees of
// ORDEREDSUBJECT and REFERENCES (section 3, THREAD) and of REFS
// (draft-ietf-morg-inthread, as Dovecot implements it: REFERENCES without
// the subject merge, threads ordered by their newest message).
//
// The package neither parses commands nor writes responses; the server
// turns criteria words into Criteria and the trees into THREAD responses.
package sortthread
