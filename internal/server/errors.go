package server

import (
	"context"
	"errors"

	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/view"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

// Status is the result of a command: OK, NO or BAD.
type Status uint8

const (
	OK Status = iota
	NO
	BAD
)

func (st Status) String() string {
	switch st {
	case NO:
		return "NO"
	case BAD:
		return "BAD"
	}
	return "OK"
}

// Error is a command's failure as the client will see it: the tagged
// status, an optional response code (RFC 5530, without brackets) and text.
type Error struct {
	Status Status
	Code   string
	Text   string
	// internal is the underlying error behind a generic answer, logged but
	// not shown to the client.
	internal error
}

func (e *Error) Error() string {
	if e.Code != "" {
		return e.Status.String() + " [" + e.Code + "] " + e.Text
	}
	return e.Status.String() + " " + e.Text
}

// Unwrap gives errors.Is access to the internal cause.
func (e *Error) Unwrap() error { return e.internal }

// No returns a NO error with a response code ("" for none).
func No(code, text string) *Error { return &Error{Status: NO, Code: code, Text: text} }

// Bad returns a BAD error with a response code ("" for none).
func Bad(code, text string) *Error { return &Error{Status: BAD, Code: code, Text: text} }

func statusOf(err error) Status { return protocolError(err).Status }

// protocolError maps any error a handler returns to what the client is
// told. It is the one place where store errors become response codes
// (RFC 5530).
func protocolError(err error) *Error {
	if err == nil {
		return &Error{Status: OK}
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var we *wire.Error
	if errors.As(err, &we) {
		return &Error{Status: BAD, Code: we.Code, Text: we.Text}
	}
	switch {
	case errors.Is(err, store.ErrNoMailbox):
		return &Error{Status: NO, Code: "NONEXISTENT", Text: "No such mailbox"}
	case errors.Is(err, store.ErrMailboxExists):
		return &Error{Status: NO, Code: "ALREADYEXISTS", Text: "Mailbox already exists"}
	case errors.Is(err, store.ErrInvalidName):
		return &Error{Status: NO, Code: "CANNOT", Text: "Invalid mailbox name"}
	case errors.Is(err, store.ErrCannot):
		return &Error{Status: NO, Code: "CANNOT", Text: "Operation not permitted"}
	case errors.Is(err, store.ErrInvalidUID):
		return &Error{Status: BAD, Text: "UID out of range"}
	case errors.Is(err, store.ErrTooBig):
		return &Error{Status: NO, Code: "TOOBIG", Text: "Message too big"}
	case errors.Is(err, store.ErrInvalidKeyword):
		return &Error{Status: BAD, Text: "Invalid keyword"}
	case errors.Is(err, store.ErrOverQuota):
		return &Error{Status: NO, Code: "OVERQUOTA", Text: "Over quota"}
	case errors.Is(err, store.ErrNoSpace):
		// Not the user's quota: the server's disk. RFC 5530 3: UNAVAILABLE
		// is a temporary failure; the client may retry later.
		return &Error{Status: NO, Code: "UNAVAILABLE", Text: "Mail storage is full, try again later", internal: err}
	case errors.Is(err, store.ErrIO):
		return &Error{Status: NO, Code: "UNAVAILABLE", Text: "Mail storage error, try again later", internal: err}
	case errors.Is(err, store.ErrNoUser):
		return &Error{Status: NO, Code: "UNAVAILABLE", Text: "Mail store unavailable", internal: err}
	case errors.Is(err, view.ErrBadSeq):
		return &Error{Status: BAD, Text: "Invalid message sequence number"}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &Error{Status: NO, Code: "UNAVAILABLE", Text: "Try again later", internal: err}
	}
	return &Error{Status: NO, Code: "SERVERBUG", Text: "Internal error", internal: err}
}
