package pgstore

import (
	"testing"

	"github.com/tidemark-mail/tidemark/internal/pgtest"
)

// TestTryLead: one process at a time holds a job's role; giving it up or
// closing the store lets another take it.
func TestTryLead(t *testing.T) {
	dsn := pgtest.DSN(t)
	s1 := openTest(t, dsn, Options{NoListen: true})
	s2 := openTest(t, dsn, Options{NoListen: true})
	rel, ok, err := s1.TryLead(ctx, "retention")
	if err != nil || !ok {
		t.Fatalf("first TryLead = %v, %v", ok, err)
	}
	if _, ok, err := s2.TryLead(ctx, "retention"); err != nil || ok {
		t.Fatalf("second process leads too: %v, %v", ok, err)
	}
	if r, ok, err := s2.TryLead(ctx, "other job"); err != nil || !ok {
		t.Fatalf("another job's role: %v, %v", ok, err)
	} else {
		r()
	}
	rel()
	_, ok, err = s2.TryLead(ctx, "retention")
	if err != nil || !ok {
		t.Fatalf("after release: %v, %v", ok, err)
	}
	s2.Close() // the role goes with the process
	if r, ok, err := s1.TryLead(ctx, "retention"); err != nil || !ok {
		t.Fatalf("after the leader closed: %v, %v", ok, err)
	} else {
		r()
	}
}
