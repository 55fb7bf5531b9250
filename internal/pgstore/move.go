package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Moving a user to another cluster (shardstore.Move) copies the user's
// mail with the replication engine while the user is served, then fences
// the user's writes here (users.moving), copies what changed meanwhile,
// switches the user directory entry (user_placement, on the default
// cluster) and deletes the user here. This file holds the PostgreSQL side
// of the fence and of the directory.

// ErrUserMoving is returned by a write of a user whose move to another
// cluster is being completed: a temporary failure (the store's I/O error
// class, answered NO [UNAVAILABLE] over IMAP and 4xx over LMTP), which
// succeeds once retried on the user's new cluster.
var ErrUserMoving = fmt.Errorf("user is being moved to another cluster, try again: %w", store.ErrIO)

type moverKey struct{}

// MoverContext marks ctx as the mover's own: its writes pass the fence
// that SetMoving raises, so the final copy can record its sync state.
func (s *Store) MoverContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, moverKey{}, true)
}

func isMover(ctx context.Context) bool {
	v, _ := ctx.Value(moverKey{}).(bool)
	return v
}

// SetMoving raises (on) or lowers the write fence of a user. Raising it
// waits for the user's writes in progress on every node (they hold the
// user's row lock) and makes every later write fail with ErrUserMoving,
// except the mover's (MoverContext).
func (s *Store) SetMoving(ctx context.Context, user string, on bool) error {
	name, err := store.ValidUserName(user)
	if err != nil {
		return fmt.Errorf("%w: %w", store.ErrNoUser, err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE users SET moving = $2 WHERE name = $1`, name, on)
	if err != nil {
		return fmt.Errorf("fence user %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("fence user %q: %w", name, store.ErrNoUser)
	}
	return nil
}

// Placement returns the shard the directory table places user on, if it
// names the user.
func (s *Store) Placement(ctx context.Context, user string) (string, bool, error) {
	var shard string
	err := s.pool.QueryRow(ctx, `SELECT shard FROM user_placement WHERE name = $1`, user).Scan(&shard)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("user directory: %w", err)
	}
	return shard, true, nil
}

// Placements returns every entry of the directory table.
func (s *Store) Placements(ctx context.Context) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, shard FROM user_placement`)
	if err != nil {
		return nil, fmt.Errorf("user directory: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var u, sh string
		if err := rows.Scan(&u, &sh); err != nil {
			return nil, fmt.Errorf("user directory: %w", err)
		}
		out[u] = sh
	}
	return out, rows.Err()
}

// SetPlacement records that user lives on shard, for every front end
// from its next lookup on.
func (s *Store) SetPlacement(ctx context.Context, user, shard string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO user_placement (name, shard) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET shard = excluded.shard, changed = now()`, user, shard)
	if err != nil {
		return fmt.Errorf("user directory: %w", err)
	}
	return nil
}
