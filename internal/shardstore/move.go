package shardstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tidemark-mail/tidemark/internal/replica"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Fencer is implemented by shards that can hold off a user's writes while
// the user's move to another shard completes (the PostgreSQL store).
type Fencer interface {
	// SetMoving raises or lowers the fence: once raised, every write of
	// the user fails with a temporary error, on every node, except the
	// mover's own.
	SetMoving(ctx context.Context, user string, on bool) error
	// MoverContext marks ctx as the mover's.
	MoverContext(ctx context.Context) context.Context
}

// MoveOptions tune Move.
type MoveOptions struct {
	// Grace is how long the moved user's old copy stays after the
	// directory names the new shard, fenced, before it is deleted: a
	// delivery or command that opened the user on the old shard just
	// before the switch gets a temporary failure and retries on the new
	// one, instead of finding the user gone.
	Grace  time.Duration
	Logger *slog.Logger
}

// MoveStats reports a move.
type MoveStats struct {
	From, To string
	// Copied is what the copy while the user was served moved; Final what
	// the copy under the fence moved.
	Copied, Final replica.Stats
	Mailboxes     int
}

// Move moves a user's mail from its shard to shard to, keeping every
// mailbox's replicated id, UIDVALIDITY, UIDs and modseqs, so clients keep
// their caches:
//
//  1. copy with the replication engine (replica.SyncUser between the two
//     shards in this process) while the user is served;
//  2. raise the fence on the old shard (Fencer): the user's writes on
//     every node wait for it and then fail with a temporary error;
//  3. copy what changed meanwhile, and check that both copies agree
//     mailbox by mailbox;
//  4. record the new shard in the directory table (Directory), which
//     every front end reads at its next Open;
//  5. after opts.Grace, delete the old copy: sessions still holding it
//     end (store.ErrUserDeleted) and their clients reconnect to the new
//     shard.
//
// A failure before step 4 lowers the fence and leaves the user where it
// was (the partial copy on the new shard is not listed, and a later Move
// continues it). Writes are refused for the time of steps 2 to 4, which
// is one incremental copy.
func (s *Store) Move(ctx context.Context, user, to string, opts MoveOptions) (MoveStats, error) {
	var st MoveStats
	name, err := store.ValidUserName(user)
	if err != nil {
		return st, fmt.Errorf("move: %w: %w", store.ErrNoUser, err)
	}
	from, err := s.ShardOf(ctx, name)
	if err != nil {
		return st, err
	}
	st.From, st.To = from, to
	src, dst := s.shards[from], s.shards[to]
	switch {
	case dst == nil:
		return st, fmt.Errorf("move %s: no shard %q: %w", name, to, store.ErrCannot)
	case from == to:
		return st, fmt.Errorf("move %s: already on shard %q: %w", name, to, store.ErrCannot)
	case s.table == nil:
		return st, fmt.Errorf("move %s: the default shard keeps no user directory: %w", name, store.ErrCannot)
	}
	fence, ok := src.(Fencer)
	if !ok {
		return st, fmt.Errorf("move %s: shard %q cannot fence writes: %w", name, from, store.ErrCannot)
	}
	if a, err := src.Open(ctx, name); err != nil {
		return st, fmt.Errorf("move %s: %w", name, err)
	} else {
		a.Close()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &replica.Local{Store: src, NodeID: "move/" + from}
	b := &replica.Local{Store: dst, NodeID: "move/" + to}
	sopts := replica.Options{Users: []string{name}, Logger: log}

	if st.Copied, err = replica.SyncUser(ctx, a, b, name, sopts); err != nil {
		return st, fmt.Errorf("move %s: copy: %w", name, err)
	}
	log.Info("move: copied while served", "user", name, "from", from, "to", to, "appends", st.Copied.Appends)

	if err := fence.SetMoving(ctx, name, true); err != nil {
		return st, fmt.Errorf("move %s: fence: %w", name, err)
	}
	mctx := fence.MoverContext(ctx)
	switched := false
	defer func() {
		if !switched {
			// Serve the user from where it was again. With a cancelled
			// ctx the fence must still come down.
			if err := fence.SetMoving(context.WithoutCancel(ctx), name, false); err != nil {
				log.Error("move: lowering the fence failed; run the move again", "user", name, "err", err)
			}
		}
	}()
	if st.Final, err = replica.SyncUser(mctx, a, b, name, sopts); err != nil {
		return st, fmt.Errorf("move %s: final copy: %w", name, err)
	}
	if st.Mailboxes, err = sameMail(ctx, src, dst, name); err != nil {
		return st, fmt.Errorf("move %s: %w", name, err)
	}
	if err := s.table.SetPlacement(ctx, name, to); err != nil {
		return st, fmt.Errorf("move %s: %w", name, err)
	}
	switched = true
	log.Info("move: directory switched", "user", name, "from", from, "to", to)

	// The new copy no longer syncs with the old one: its sync state for
	// the old shard must not hold back tombstone pruning.
	if r, err := dst.OpenReplica(ctx, name); err == nil {
		err = r.ForgetPeer(ctx, a.NodeID)
		r.Close()
		if err != nil {
			log.Warn("move: forgetting the old copy's sync state", "user", name, "err", err)
		}
	}
	select {
	case <-time.After(opts.Grace):
	case <-ctx.Done():
	}
	if err := src.DeleteUser(context.WithoutCancel(mctx), name); err != nil && !errors.Is(err, store.ErrNoUser) {
		return st, fmt.Errorf("move %s: moved, but deleting the old copy on shard %q failed (it is not served; delete it with the directory still naming %q): %w",
			name, from, from, err)
	}
	return st, nil
}

// sameMail checks that both copies hold the same mailboxes (by replicated
// id) with the same UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and message
// count, and returns how many there are.
func sameMail(ctx context.Context, src, dst store.Store, user string) (int, error) {
	type summary struct {
		name          string
		uidValidity   uint32
		uidNext       store.UID
		highestModSeq store.ModSeq
		messages      uint32
	}
	read := func(st store.Store) (map[string]summary, error) {
		a, err := st.Open(ctx, user)
		if err != nil {
			return nil, err
		}
		defer a.Close()
		boxes, err := a.Mailboxes(ctx)
		if err != nil {
			return nil, err
		}
		out := map[string]summary{}
		for _, m := range boxes {
			status, err := a.Status(ctx, m.ID)
			if err != nil {
				return nil, err
			}
			out[m.GUID] = summary{m.Name, m.UIDValidity, status.UIDNext, status.HighestModSeq, status.Messages}
		}
		return out, nil
	}
	want, err := read(src)
	if err != nil {
		return 0, err
	}
	got, err := read(dst)
	if err != nil {
		return 0, err
	}
	if len(got) != len(want) {
		return 0, fmt.Errorf("the copy has %d mailboxes, the original %d", len(got), len(want))
	}
	for guid, w := range want {
		if g, ok := got[guid]; !ok || g != w {
			return 0, fmt.Errorf("mailbox %q: copy %+v, original %+v", w.name, g, w)
		}
	}
	return len(want), nil
}
