// Package shardstore spreads users over several stores (shards: in
// practice several PostgreSQL clusters) by a user directory, and is itself
// a store.Store, so that every front end serves every user whichever
// cluster holds them.
//
// The directory maps a user name (store.ValidUserName form) to a shard
// name; users it does not name live on the default shard. A user lives on
// exactly one shard; no operation spans two users, so none spans two
// shards. Every shard publishes on one Hub: watchers key on (user,
// mailbox), and a user is on one shard, so ids of different clusters never
// meet. Moving a user to another shard is an offline step with no tool of
// its own yet; see docs/deployment.md.
package shardstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Store routes each user to its shard.
type Store struct {
	shards map[string]store.Store
	def    string
	dir    map[string]string // user → shard name
	hub    *store.Hub
}

var (
	_ store.Store    = (*Store)(nil)
	_ store.Shared   = (*Store)(nil)
	_ store.Checker  = (*Store)(nil)
	_ store.Repairer = (*Store)(nil)
	_ store.Pinger   = (*Store)(nil)
	_ store.Leader   = (*Store)(nil)
)

// New returns a Store over shards (by name), all publishing on hub. Users
// the directory does not name go to the shard named def. It fails when the
// directory names a shard that does not exist or a user name is invalid.
func New(hub *store.Hub, shards map[string]store.Store, def string, directory map[string]string) (*Store, error) {
	if shards[def] == nil {
		return nil, fmt.Errorf("shardstore: no default shard %q", def)
	}
	dir := make(map[string]string, len(directory))
	for u, sh := range directory {
		name, err := store.ValidUserName(u)
		if err != nil {
			return nil, fmt.Errorf("shardstore: directory: %w", err)
		}
		if shards[sh] == nil {
			return nil, fmt.Errorf("shardstore: directory: user %q on unknown shard %q", u, sh)
		}
		dir[name] = sh
	}
	return &Store{shards: shards, def: def, dir: dir, hub: hub}, nil
}

// ShardOf names the shard that holds user.
func (s *Store) ShardOf(user string) string {
	if name, err := store.ValidUserName(user); err == nil {
		if sh, ok := s.dir[name]; ok {
			return sh
		}
	}
	return s.def
}

func (s *Store) of(user string) store.Store { return s.shards[s.ShardOf(user)] }

// CreateUser creates the user on its shard.
func (s *Store) CreateUser(ctx context.Context, user string) error {
	return s.of(user).CreateUser(ctx, user)
}

// DeleteUser deletes the user from its shard.
func (s *Store) DeleteUser(ctx context.Context, user string) error {
	return s.of(user).DeleteUser(ctx, user)
}

// Open opens the user on its shard.
func (s *Store) Open(ctx context.Context, user string) (store.Account, error) {
	return s.of(user).Open(ctx, user)
}

// Users lists, in ascending order, the users each shard holds that the
// directory places there (a stale copy left on another shard by a move is
// not listed).
func (s *Store) Users(ctx context.Context) ([]string, error) {
	var out []string
	for name, sh := range s.shards {
		us, err := sh.Users(ctx)
		if err != nil {
			return nil, fmt.Errorf("shard %s: %w", name, err)
		}
		for _, u := range us {
			if s.ShardOf(u) == name {
				out = append(out, u)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// Hub returns the hub every shard publishes on.
func (s *Store) Hub() *store.Hub { return s.hub }

// Close closes every shard.
func (s *Store) Close() error {
	var errs []error
	for _, sh := range s.shards {
		errs = append(errs, sh.Close())
	}
	return errors.Join(errs...)
}

// Shared reports whether any shard is written by other processes too.
func (s *Store) Shared() bool {
	for _, sh := range s.shards {
		if store.IsShared(sh) {
			return true
		}
	}
	return false
}

// Check runs the user's shard's checker.
func (s *Store) Check(ctx context.Context, user string) ([]store.Problem, error) {
	c, ok := s.of(user).(store.Checker)
	if !ok {
		return nil, fmt.Errorf("shard %s has no checker", s.ShardOf(user))
	}
	return c.Check(ctx, user)
}

// Repair runs the user's shard's repair.
func (s *Store) Repair(ctx context.Context, user string) ([]store.Problem, error) {
	r, ok := s.of(user).(store.Repairer)
	if !ok {
		return nil, fmt.Errorf("shard %s cannot repair", s.ShardOf(user))
	}
	return r.Repair(ctx, user)
}

// Ping pings every shard: a front end that cannot reach one of them
// cannot serve its users.
func (s *Store) Ping(ctx context.Context) error {
	for name, sh := range s.shards {
		p, ok := sh.(store.Pinger)
		if !ok {
			continue
		}
		if err := p.Ping(ctx); err != nil {
			return fmt.Errorf("shard %s: %w", name, err)
		}
	}
	return nil
}

// TryLead elects on the default shard: one process in the whole
// deployment runs a job over every user.
func (s *Store) TryLead(ctx context.Context, job string) (func(), bool, error) {
	if l, ok := s.shards[s.def].(store.Leader); ok {
		return l.TryLead(ctx, job)
	}
	return func() {}, true, nil
}

// OpenReplica opens the replica handle of the user on its shard.
func (s *Store) OpenReplica(ctx context.Context, user string) (store.Replica, error) {
	return s.of(user).OpenReplica(ctx, user)
}

// OpenMetadata opens the metadata of the user on its shard
// (store.MetadataStore); a shard without it answers ErrCannot.
func (s *Store) OpenMetadata(ctx context.Context, user string) (store.Metadata, error) {
	ms, ok := s.of(user).(store.MetadataStore)
	if !ok {
		return nil, fmt.Errorf("metadata: %w", store.ErrCannot)
	}
	return ms.OpenMetadata(ctx, user)
}
