package sqlitestore

import (
	"context"
	"fmt"
)

// Ping proves the store answers (store.Pinger): it opens the first user's
// database (or reuses it when open) and reads its mailbox table, within
// ctx. A data directory without users answers with its listing alone,
// there being no database to query.
func (s *Store) Ping(ctx context.Context) error {
	users, err := s.Users(ctx)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	if len(users) == 0 {
		return ctx.Err()
	}
	u, err := s.acquire(ctx, users[0])
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	defer s.release(u)
	var n int64
	if err := u.r.QueryRowContext(ctx, `SELECT count(*) FROM mailboxes`).Scan(&n); err != nil {
		return fmt.Errorf("ping: user %q: %w", users[0], err)
	}
	return ctx.Err()
}
