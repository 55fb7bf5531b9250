package shardstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
)

var _ store.ACLStore = (*Store)(nil)

// OpenACL opens the access control lists of the user on its shard
// (store.ACLStore); a shard without them answers ErrCannot.
func (s *Store) OpenACL(ctx context.Context, user string) (store.ACL, error) {
	st, err := s.of(ctx, user)
	if err != nil {
		return nil, err
	}
	as, ok := st.(store.ACLStore)
	if !ok {
		return nil, fmt.Errorf("acl: %w", store.ErrCannot)
	}
	return as.OpenACL(ctx, user)
}

// Grants asks every shard and keeps the entries of owners that live there
// (a copy left on another shard by a move is not the owner's).
func (s *Store) Grants(ctx context.Context, identifiers []string) ([]store.ACLGrant, error) {
	shardOf, err := s.placements(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.ACLGrant
	for name, sh := range s.shards {
		as, ok := sh.(store.ACLStore)
		if !ok {
			continue
		}
		gs, err := as.Grants(ctx, identifiers)
		if err != nil {
			return nil, fmt.Errorf("shard %s: %w", name, err)
		}
		for _, g := range gs {
			if shardOf(g.Owner) == name {
				out = append(out, g)
			}
		}
	}
	slices.SortFunc(out, func(a, b store.ACLGrant) int {
		if c := strings.Compare(a.Owner, b.Owner); c != 0 {
			return c
		}
		if a.Mailbox != b.Mailbox {
			return int(a.Mailbox - b.Mailbox)
		}
		return strings.Compare(a.Identifier, b.Identifier)
	})
	return out, nil
}

// GranteeForgetter is a shard that can drop every entry naming a deleted
// user (each shard does it for its own users when it deletes one; the
// others learn of it here).
type GranteeForgetter interface {
	ForgetGrantee(ctx context.Context, identifier string) error
}

// forgetGrantee drops the entries naming a deleted user on every shard, so
// that a user created again under the name, on any shard, inherits none.
func (s *Store) forgetGrantee(ctx context.Context, user string) error {
	name, err := store.ValidUserName(user)
	if err != nil {
		return nil
	}
	for sn, sh := range s.shards {
		if f, ok := sh.(GranteeForgetter); ok {
			if err := f.ForgetGrantee(ctx, name); err != nil {
				return fmt.Errorf("shard %s: %w", sn, err)
			}
		}
	}
	return nil
}
