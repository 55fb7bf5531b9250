package store

import (
	"context"
	"fmt"
)

// Optional abilities of a Store, checked with a type assertion like
// http.Flusher. Callers must work without them.

// Shared is implemented by stores that other processes may write to at the
// same time (several front ends on one database). Their Hub hears of
// other processes' commits only after a delay, so an in-memory copy of a
// mailbox must check the store's HIGHESTMODSEQ before answering from
// memory. A store that does not implement it, or answers false, publishes
// every commit that matters before the committing call returns.
type Shared interface {
	Shared() bool
}

// IsShared reports whether st says other processes write to it.
func IsShared(st Store) bool {
	s, ok := st.(Shared)
	return ok && s.Shared()
}

// Problem is one inconsistency a store's checker found.
type Problem struct {
	Mailbox string // mailbox name, "" when not about one mailbox
	UID     UID    // 0 when not about one message
	What    string
}

func (p Problem) String() string {
	switch {
	case p.Mailbox == "":
		return p.What
	case p.UID == 0:
		return fmt.Sprintf("mailbox %q: %s", p.Mailbox, p.What)
	}
	return fmt.Sprintf("mailbox %q UID %d: %s", p.Mailbox, p.UID, p.What)
}

// Checker is implemented by stores that can verify a user's store.
type Checker interface {
	// Check returns what is wrong with a user's store; nothing when it
	// is consistent.
	Check(ctx context.Context, user string) ([]Problem, error)
}

// Repairer is implemented by stores that can recompute what a user's
// messages determine (counters, UIDNEXT, HIGHESTMODSEQ), never lowering
// a modseq. It returns what it fixed.
type Repairer interface {
	Repair(ctx context.Context, user string) ([]Problem, error)
}

// Leader is implemented by stores that several processes share, so that
// one of them runs a periodic job over every user (tombstone retention)
// instead of all of them.
type Leader interface {
	// TryLead makes this process the one running job, if no other process
	// holds that role. It returns whether it leads; while it does, release
	// gives the role up. The role also ends when the process dies or loses
	// its connection to the store, so a job must stay harmless if, rarely,
	// two processes run it at once.
	TryLead(ctx context.Context, job string) (release func(), ok bool, err error)
}

// Settings is implemented by stores that several processes share (see
// Shared), to keep the small state every front end must see alike —
// SETQUOTA limits, the tombstone retention watermarks — in the store
// rather than in one node's data directory. Keys and values are opaque to
// the store.
type Settings interface {
	// Setting returns the value of key, and whether there is one.
	Setting(ctx context.Context, key string) ([]byte, bool, error)
	// Settings returns every key that starts with prefix, with its value.
	Settings(ctx context.Context, prefix string) (map[string][]byte, error)
	// PutSettings stores values in one transaction; a nil value deletes
	// its key. Once it returns, every process reads the new values.
	PutSettings(ctx context.Context, values map[string][]byte) error
}
