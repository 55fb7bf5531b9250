package store

import "context"

// Progress of a long store call (SetFlags, Copy, Move over many messages),
// for INPROGRESS (RFC 9585): a caller puts a function in the context with
// WithProgress, and a backend that goes through the messages one by one
// inside its transaction calls Tracker.Step for each. A backend that
// changes them in bulk statements reports nothing; callers must not rely
// on reports.
//
// The function is called from whatever goroutine runs the transaction
// (with group commit, possibly another caller's), while the transaction
// holds its locks: it must only record the count and return at once.

type progressKey struct{}

type progressHook struct {
	every int
	fn    func(done int)
}

// WithProgress returns ctx carrying fn, to be called with the number of
// messages done every every messages.
func WithProgress(ctx context.Context, every int, fn func(done int)) context.Context {
	if every <= 0 || fn == nil {
		return ctx
	}
	return context.WithValue(ctx, progressKey{}, progressHook{every, fn})
}

// Tracker counts the messages of one store call for the hook of its
// context. A nil Tracker (no hook) does nothing.
type Tracker struct {
	hook progressHook
	done int
}

// TrackProgress returns the tracker of ctx's hook, nil when it has none.
func TrackProgress(ctx context.Context) *Tracker {
	h, ok := ctx.Value(progressKey{}).(progressHook)
	if !ok {
		return nil
	}
	return &Tracker{hook: h}
}

// Step counts one message done and tells the hook when a multiple of its
// pace is reached.
func (t *Tracker) Step() {
	if t == nil {
		return
	}
	t.done++
	if t.done%t.hook.every == 0 {
		t.hook.fn(t.done)
	}
}

// Restart starts counting again from zero: a transaction that is retried
// reports from the start.
func (t *Tracker) Restart() {
	if t != nil {
		t.done = 0
	}
}
