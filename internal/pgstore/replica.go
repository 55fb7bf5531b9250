package pgstore

import (
	"context"
	"fmt"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// ErrNoReplica is returned by OpenReplica: writing a store as a copy of
// mail held elsewhere (store.Replica: `tidemark import`, `tidemark
// migrate`, replication) is not implemented by the PostgreSQL store yet.
// Import into the embedded store, or use APPEND/LMTP.
var ErrNoReplica = fmt.Errorf("the PostgreSQL store does not support replicas (import, migration, replication) yet: %w", store.ErrCannot)

// OpenReplica implements store.Store: it checks the user and fails with
// ErrNoReplica.
func (s *Store) OpenReplica(ctx context.Context, user string) (store.Replica, error) {
	a, err := s.openAccount(ctx, user)
	if err != nil {
		return nil, err
	}
	a.Close()
	return nil, ErrNoReplica
}
