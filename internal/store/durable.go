package store

import (
	"context"
	"time"
)

// DeferredSync is implemented by stores that can commit a write without
// waiting for its fsync, for a caller that promises to call MakeDurable
// before it tells anyone about the write: an IMAP session runs the
// commands a client pipelined, each committing, and makes all of them
// durable with one sync before the responses leave (docs/architecture.md,
// "Group commit"). Callers must work without it.
type DeferredSync interface {
	// MakeDurable returns once every change this process has committed to
	// the store so far is durable; at once when nothing waits for a sync.
	MakeDurable(ctx context.Context) error
}

type deferSyncKey struct{}

// DeferSync marks ctx as the context of a caller that calls MakeDurable
// before it answers or otherwise shows anyone what it read or wrote with
// ctx: writes under it return once committed, not once synced, and reads
// under it may see changes not yet synced. A store that does not implement
// DeferredSync ignores the mark.
func DeferSync(ctx context.Context) context.Context {
	return context.WithValue(ctx, deferSyncKey{}, true)
}

// SyncDeferred reports whether ctx carries DeferSync's mark.
func SyncDeferred(ctx context.Context) bool {
	v, _ := ctx.Value(deferSyncKey{}).(bool)
	return v
}

type syncPatienceKey struct{}

// WithSyncPatience marks ctx, already under DeferSync, as the context of a
// caller that tells its client only of other writers' changes (a session
// in IDLE): MakeDurable under it first waits up to d for the writers to
// make their own changes durable, as each does before it answers, and
// syncs only what is still not durable then. One sync then covers a
// pipelined writer's commands and the updates an idle session sends about
// them, rather than the idle session syncing after each. A store that
// does not implement DeferredSync ignores the mark.
func WithSyncPatience(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, syncPatienceKey{}, d)
}

// SyncPatience returns the patience WithSyncPatience set on ctx, 0 if none.
func SyncPatience(ctx context.Context) time.Duration {
	d, _ := ctx.Value(syncPatienceKey{}).(time.Duration)
	return d
}
