package store

import "context"

// MessageKeys is what a store keeps of a message for SORT and THREAD.
type MessageKeys struct {
	UID          UID
	InternalDate int64 // Unix seconds
	Size         int64
	// Keys are the sort and thread keys computed at delivery, in the
	// stored form of package sortthread (sortthread.EncodeKeys); nil for a
	// message stored before the store kept them. Valid only during the
	// callback.
	Keys []byte
}

// KeysReader is implemented by accounts that keep each message's sort and
// thread keys, so that the first SORT or THREAD of a mailbox reads them
// rather than every message's stored structure. MessageKeys calls fn for
// each message of uids in mailbox, ascending; the MessageKeys passed is
// reused between calls.
type KeysReader interface {
	MessageKeys(ctx context.Context, mailbox MailboxID, uids UIDSet, fn func(*MessageKeys) error) error
}

// keySpanRanges: a UID set of more ranges than this is read as its whole
// span and filtered (KeySpans).
const keySpanRanges = 32

// KeySpans is how a KeysReader reads uids: range by range, or, for a set
// of many ranges, as its whole span, keeping only the UIDs of the set
// (filter true): one query instead of one per range.
func KeySpans(uids UIDSet) (spans UIDSet, filter bool) {
	if len(uids) > keySpanRanges {
		return UIDSet{{Start: uids[0].Start, Stop: uids[len(uids)-1].Stop}}, true
	}
	return uids, false
}
