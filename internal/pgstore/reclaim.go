package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultReclaimGrace is how long the bytes of an expunged message stay
// readable before a reclamation pass may remove them, unless
// Options.ReclaimGrace says otherwise. A FETCH on another node that had
// already listed the message reads it within this time.
const DefaultReclaimGrace = 10 * time.Minute

// Reclaim removes the contents rows orphaned (their last message
// expunged) at least minAge ago, and the bodies no contents row names any
// more. It returns how many contents rows it removed. Safe to run on
// several nodes at once.
func (s *Store) Reclaim(ctx context.Context, minAge time.Duration) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `DELETE FROM contents c WHERE c.orphaned_at IS NOT NULL
			AND c.orphaned_at <= now() - $1::interval
			AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.content_id = c.id)
			RETURNING blob_id`, fmt.Sprintf("%d microseconds", minAge.Microseconds()))
		if err != nil {
			return err
		}
		blobs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		n = len(blobs)
		t := &writeTx{ctx: ctx, tx: tx}
		return t.dropUnreferencedBodies(blobs)
	})
	if err != nil {
		return 0, fmt.Errorf("reclaim: %w", err)
	}
	return n, nil
}

// reclaimLoop runs Reclaim every interval until ctx ends.
func (s *Store) reclaimLoop(ctx context.Context, every, grace time.Duration) {
	defer close(s.reclaimDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Reclaim(ctx, grace)
		}
	}
}
