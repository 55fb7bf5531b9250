package pgstore

import (
	"errors"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestOpenReplicaUnsupported: the PostgreSQL store says clearly that it
// cannot be written as a replica, and still tells a missing user apart.
func TestOpenReplicaUnsupported(t *testing.T) {
	s := openTest(t, pgtest.DSN(t), Options{NoListen: true})
	if _, err := s.OpenReplica(ctx, "nobody"); !errors.Is(err, store.ErrNoUser) {
		t.Fatalf("missing user: %v", err)
	}
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenReplica(ctx, "alice"); !errors.Is(err, ErrNoReplica) || !errors.Is(err, store.ErrCannot) {
		t.Fatalf("OpenReplica = %v, want ErrNoReplica", err)
	}
}
