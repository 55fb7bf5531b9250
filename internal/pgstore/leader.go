package pgstore

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"

	"github.com/tidemark-mail/tidemark/internal/store"
)

var _ store.Leader = (*Store)(nil)

// TryLead implements store.Leader with a session-level advisory lock named
// after the job, held on a connection set aside from the pool for as long
// as this process leads. Another process's attempt fails at once; when
// this one dies or its connection drops, PostgreSQL releases the lock and
// the next attempt elsewhere succeeds.
func (s *Store) TryLead(ctx context.Context, job string) (func(), bool, error) {
	h := fnv.New64a()
	h.Write([]byte("tidemark leader " + job))
	key := int64(h.Sum64())
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lead %s: %w", job, err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("lead %s: %w", job, err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, key)
			conn.Release()
		})
	}
	s.mu.Lock()
	s.leading = append(s.leading, release)
	s.mu.Unlock()
	return release, true, nil
}
