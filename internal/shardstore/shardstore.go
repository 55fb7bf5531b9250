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
// meet.
//
// The directory has two parts: the configuration's (New's directory), and
// a table on the default shard (Directory, implemented by the PostgreSQL
// store) whose entries win. Moves (Move, move.go) write the table, so
// every front end sees a move at its next lookup: the table is read at
// every Open, never cached, because a front end that opened a moved user
// on its old shard would serve a copy about to be deleted.
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
	dir    map[string]string // user → shard name, from the configuration
	table  Directory         // the default shard's directory table; nil if none
	hub    *store.Hub
}

// Directory is a user directory kept in a store (the PostgreSQL store's
// user_placement table), whose entries override the configuration's.
type Directory interface {
	// Placement returns the shard the table places user on, if any.
	Placement(ctx context.Context, user string) (string, bool, error)
	// Placements returns every entry.
	Placements(ctx context.Context) (map[string]string, error)
	// SetPlacement records that user lives on shard.
	SetPlacement(ctx context.Context, user, shard string) error
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
	st := &Store{shards: shards, def: def, dir: dir, hub: hub}
	st.table, _ = shards[def].(Directory)
	return st, nil
}

// ShardOf names the shard that holds user: the directory table's entry,
// else the configuration's, else the default shard.
func (s *Store) ShardOf(ctx context.Context, user string) (string, error) {
	name, err := store.ValidUserName(user)
	if err != nil {
		return s.def, nil // no such user anywhere; the default shard says so
	}
	if s.table != nil {
		sh, ok, err := s.table.Placement(ctx, name)
		if err != nil {
			return "", err
		}
		if ok {
			if s.shards[sh] == nil {
				return "", fmt.Errorf("shardstore: user %q is on shard %q, which this node's configuration lacks", name, sh)
			}
			return sh, nil
		}
	}
	if sh, ok := s.dir[name]; ok {
		return sh, nil
	}
	return s.def, nil
}

// placements returns the whole directory: the configuration's entries
// overridden by the table's.
func (s *Store) placements(ctx context.Context) (func(user string) string, error) {
	var table map[string]string
	if s.table != nil {
		var err error
		if table, err = s.table.Placements(ctx); err != nil {
			return nil, err
		}
	}
	return func(user string) string {
		if sh, ok := table[user]; ok {
			return sh
		}
		if sh, ok := s.dir[user]; ok {
			return sh
		}
		return s.def
	}, nil
}

func (s *Store) of(ctx context.Context, user string) (store.Store, error) {
	sh, err := s.ShardOf(ctx, user)
	if err != nil {
		return nil, err
	}
	return s.shards[sh], nil
}

// CreateUser creates the user on its shard.
func (s *Store) CreateUser(ctx context.Context, user string) error {
	st, err := s.of(ctx, user)
	if err != nil {
		return err
	}
	return st.CreateUser(ctx, user)
}

// DeleteUser deletes the user from its shard.
func (s *Store) DeleteUser(ctx context.Context, user string) error {
	st, err := s.of(ctx, user)
	if err != nil {
		return err
	}
	if err := st.DeleteUser(ctx, user); err != nil {
		return err
	}
	return s.forgetGrantee(ctx, user)
}

// Open opens the user on its shard.
func (s *Store) Open(ctx context.Context, user string) (store.Account, error) {
	st, err := s.of(ctx, user)
	if err != nil {
		return nil, err
	}
	return st.Open(ctx, user)
}

// Users lists, in ascending order, the users each shard holds that the
// directory places there (a stale copy left on another shard by an
// interrupted move is not listed).
func (s *Store) Users(ctx context.Context) ([]string, error) {
	shardOf, err := s.placements(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for name, sh := range s.shards {
		us, err := sh.Users(ctx)
		if err != nil {
			return nil, fmt.Errorf("shard %s: %w", name, err)
		}
		for _, u := range us {
			if shardOf(u) == name {
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
	st, err := s.of(ctx, user)
	if err != nil {
		return nil, err
	}
	c, ok := st.(store.Checker)
	if !ok {
		return nil, fmt.Errorf("the shard of %s has no checker", user)
	}
	return c.Check(ctx, user)
}

// Repair runs the user's shard's repair.
func (s *Store) Repair(ctx context.Context, user string) ([]store.Problem, error) {
	st, err := s.of(ctx, user)
	if err != nil {
		return nil, err
	}
	r, ok := st.(store.Repairer)
	if !ok {
		return nil, fmt.Errorf("the shard of %s cannot repair", user)
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
	st, err := s.of(ctx, user)
	if err != nil {
		return nil, err
	}
	return st.OpenReplica(ctx, user)
}

var _ store.Settings = (*Store)(nil)

// settings is the default shard's store.Settings: state shared by every
// front end that is not a user's mail lives there.
func (s *Store) settings() (store.Settings, error) {
	if st, ok := s.shards[s.def].(store.Settings); ok {
		return st, nil
	}
	return nil, fmt.Errorf("shardstore: the default shard keeps no settings: %w", store.ErrCannot)
}

// Setting reads a setting from the default shard.
func (s *Store) Setting(ctx context.Context, key string) ([]byte, bool, error) {
	st, err := s.settings()
	if err != nil {
		return nil, false, err
	}
	return st.Setting(ctx, key)
}

// Settings reads settings from the default shard.
func (s *Store) Settings(ctx context.Context, prefix string) (map[string][]byte, error) {
	st, err := s.settings()
	if err != nil {
		return nil, err
	}
	return st.Settings(ctx, prefix)
}

// PutSettings writes settings on the default shard.
func (s *Store) PutSettings(ctx context.Context, values map[string][]byte) error {
	st, err := s.settings()
	if err != nil {
		return err
	}
	return st.PutSettings(ctx, values)

}

// OpenAccessKeys opens the URLAUTH keys of the user on its shard
// (store.AccessKeyStore); a shard without them answers ErrCannot.
func (s *Store) OpenAccessKeys(ctx context.Context, user string) (store.AccessKeys, error) {
	st, err := s.of(ctx, user)
	if err != nil {
		return nil, err
	}
	ks, ok := st.(store.AccessKeyStore)
	if !ok {
		return nil, fmt.Errorf("access keys: %w", store.ErrCannot)
	}
	return ks.OpenAccessKeys(ctx, user)
}

// OpenMetadata opens the metadata of the user on its shard
// (store.MetadataStore); a shard without it answers ErrCannot.
func (s *Store) OpenMetadata(ctx context.Context, user string) (store.Metadata, error) {
	st, err := s.of(ctx, user)
	if err != nil {
		return nil, err
	}
	ms, ok := st.(store.MetadataStore)
	if !ok {
		return nil, fmt.Errorf("metadata: %w", store.ErrCannot)
	}
	return ms.OpenMetadata(ctx, user)
}
