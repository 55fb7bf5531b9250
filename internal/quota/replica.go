package quota

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/tidemark-mail/tidemark/internal/auth"
)

// Replication of SETQUOTA overrides between servers (docs/replication.md).
// Each override carries a stamp: a local SETQUOTA takes max(now in Unix
// nanoseconds, highest stamp seen + 1), and applying a peer's override
// raises "highest seen" to its stamp, so a change made after seeing
// another always wins (a hybrid logical clock). Between two overrides of
// one user the larger stamp wins, then the larger storage limit, then
// the larger message limit: the order depends only on the overrides, so
// every replica settles on the same one. SETQUOTA cannot remove an
// override (an empty list sets "unlimited"), so there are no tombstones.

// Newer reports whether o wins over p (same user) by the rule above.
func (o Override) Newer(p Override) bool {
	if c := cmp.Compare(o.Stamp, p.Stamp); c != 0 {
		return c > 0
	}
	if c := cmp.Compare(o.StorageBytes, p.StorageBytes); c != 0 {
		return c > 0
	}
	return o.Messages > p.Messages
}

// Overrides returns every override, ordered by user (with shared
// overrides, as the store holds them now).
func (m *Manager) Overrides() []Override {
	m.syncShared()
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Override, 0, len(m.overrides))
	for _, o := range m.overrides {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b Override) int { return cmp.Compare(a.User, b.User) })
	return out
}

// ApplyOverrides takes a peer's overrides: each one newer than the one
// held here for its user (or for a user without one) replaces it,
// durably, and applies at once. It returns how many were applied.
func (m *Manager) ApplyOverrides(set []Override) (int, error) {
	m.syncShared()
	m.mu.Lock()
	defer m.mu.Unlock()
	var take []Override
	for _, o := range set {
		if n, err := auth.NormalizeName(o.User); err != nil || n != o.User {
			return 0, fmt.Errorf("quota: apply: invalid user %q", o.User)
		}
		if cur, ok := m.overrides[o.User]; !ok || o.Newer(cur) {
			take = append(take, o)
		}
	}
	if len(take) == 0 {
		return 0, nil
	}
	return len(take), m.replace(take)
}

// Clock returns the highest stamp seen; it moves with every change, so a
// replication pusher polls it.
func (m *Manager) Clock() int64 {
	m.syncShared()
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.clock
}

// Reload reads the overrides file again and takes, per user, the newer of
// the file's override and the one held here (Override.Newer): another
// process (a one-shot `tidemark sync` on the same directory) may have
// written overrides this one has not seen. When the file lacks or holds an
// older version of one held here, the file is rewritten with the union.
// It returns how many overrides of the file were taken.
func (m *Manager) Reload() (int, error) {
	if m.cfg.OverridesFile == "" {
		return 0, nil
	}
	data, err := os.ReadFile(m.cfg.OverridesFile)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("quota: %w", err)
	}
	var saved map[string]Override
	if err := json.Unmarshal(data, &saved); err != nil {
		return 0, fmt.Errorf("quota: %s: %w", m.cfg.OverridesFile, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next := make(map[string]Override, len(m.overrides)+len(saved))
	clock, taken, stale := m.clock, 0, false
	for u, o := range m.overrides {
		next[u] = o
		if f, ok := saved[u]; !ok || o.Newer(f) {
			stale = true
		}
	}
	for u, o := range saved {
		o.User = userKey(u)
		if cur, ok := next[o.User]; !ok || o.Newer(cur) {
			next[o.User] = o
			clock = max(clock, o.Stamp)
			taken++
		}
	}
	if stale {
		if err := writeFileDurably(m.cfg.OverridesFile, next); err != nil {
			return taken, err
		}
	}
	m.overrides, m.clock = next, clock
	return taken, nil
}

// syncShared reloads shared overrides from the store, so that those set
// on other front ends replicate too; on an error the ones held stay.
func (m *Manager) syncShared() {
	if m.cfg.Shared == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	m.loadShared(ctx)
}
