package store

import "context"

// MessageSource hands over the messages of one append in order, as its
// caller receives them (an IMAP MULTIAPPEND reads each message off the
// connection): the next message, and whether more follow it. It is not
// called again after more is false or an error.
type MessageSource func() (m NewMessage, more bool, err error)

// StreamAppender is an optional interface of an Account: Append with the
// messages taken one at a time from a MessageSource, so that the backend
// can hash, parse and compress each while the next one is still being
// received. The messages are appended in one transaction, all or none,
// as by Append; an error from the source appends nothing and is returned
// as it is. Bodies must stay readable until the call returns.
type StreamAppender interface {
	AppendStream(ctx context.Context, id MailboxID, next MessageSource) (AppendResult, error)
}

// AppendStream appends next's messages through a's StreamAppender, or,
// for an account without one, reads them all and calls Append.
func AppendStream(ctx context.Context, a Account, id MailboxID, next MessageSource) (AppendResult, error) {
	if s, ok := a.(StreamAppender); ok {
		return s.AppendStream(ctx, id, next)
	}
	var msgs []NewMessage
	for more := true; more; {
		m, ok, err := next()
		if err != nil {
			return AppendResult{}, err
		}
		msgs = append(msgs, m)
		more = ok
	}
	return a.Append(ctx, id, msgs)
}
