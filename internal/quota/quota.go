// Package quota owns users' storage and message-count limits (RFC 9208)
// and decides whether a delivery or an IMAP command may add to a store.
//
// # Model
//
// A user's limits come from, in order of precedence: a limit set with
// SETQUOTA by a quota administrator (kept in a JSON file in the data
// directory, so it survives restarts; or, when several front ends share
// one store, in the store: Config.Shared), the user's override in the
// configuration file, the configured default. Zero means unlimited.
// SETQUOTA limits carry a stamp and replicate between servers
// (replica.go).
// User names are compared as logins are (auth.NormalizeName: ASCII case
// folded), wherever they come from: "Alice" in the configuration, in a
// SETQUOTA root or at login is the same user.
//
// Usage is never counted here: the store keeps exact per-mailbox counters
// in the transactions that change them, and store.Account.Usage adds them
// up. A check therefore costs one small query, and a user with no limits
// costs nothing. The check runs before the write, not inside its
// transaction, so two concurrent deliveries may each pass and together
// overshoot by one message; quotas are an administrative bound, not an
// invariant of the store.
package quota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Limits are one user's limits; zero means unlimited.
type Limits struct {
	StorageBytes int64 `json:"storage_bytes"`
	Messages     int64 `json:"messages"`
}

// Config is what the configuration file says about quotas.
type Config struct {
	Default Limits
	// Users overrides the default per user; a negative field keeps the
	// default for that resource.
	Users  map[string]Limits
	Admins []string
	// OverridesFile keeps limits set with SETQUOTA; "" keeps them in
	// memory only.
	OverridesFile string
	// Shared, when set, keeps them in the store instead (a store shared
	// by several front ends: store.Settings), so a SETQUOTA on one front
	// end applies on every other at its next check; OverridesFile is then
	// not used.
	Shared store.Settings
}

// sharedPrefix starts the store.Settings key of each user's override.
const sharedPrefix = "quota/"

// sharedTimeout bounds a read of the shared overrides made where the
// caller has no context (Limits).
const sharedTimeout = 5 * time.Second

// OverridesFileName is the file, in the data directory, where serve keeps
// limits set with SETQUOTA.
const OverridesFileName = "quota-overrides.json"

// Manager implements server.QuotaManager, and lmtp.QuotaChecker through
// LMTPChecker.
type Manager struct {
	st     store.Store
	cfg    Config
	admins map[string]bool

	mu        sync.RWMutex
	overrides map[string]Override // guarded by mu
	clock     int64               // highest Override.Stamp seen; guarded by mu
	// now is the clock of stamps; tests replace it.
	now func() time.Time
}

// Override is a limit set with SETQUOTA, with the stamp replication
// orders changes by (replica.go). In the overrides file it is stored as
// its Limits plus "stamp" (absent in files written before: 0).
type Override struct {
	User string `json:"-"`
	Limits
	Stamp int64 `json:"stamp,omitempty"`
}

// New makes a manager and reads the overrides file if there is one.
func New(st store.Store, cfg Config) (*Manager, error) {
	m := &Manager{st: st, cfg: cfg, admins: map[string]bool{}, overrides: map[string]Override{}, now: time.Now}
	for _, a := range cfg.Admins {
		m.admins[userKey(a)] = true
	}
	m.cfg.Users = make(map[string]Limits, len(cfg.Users))
	for u, l := range cfg.Users {
		m.cfg.Users[userKey(u)] = l
	}
	if cfg.Shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		defer cancel()
		if err := m.loadShared(ctx); err != nil {
			return nil, err
		}
	} else if cfg.OverridesFile != "" {
		data, err := os.ReadFile(cfg.OverridesFile)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("quota: %w", err)
		default:
			var saved map[string]Override
			if err := json.Unmarshal(data, &saved); err != nil {
				return nil, fmt.Errorf("quota: %s: %w", cfg.OverridesFile, err)
			}
			for u, o := range saved {
				o.User = userKey(u)
				m.overrides[o.User] = o
				m.clock = max(m.clock, o.Stamp)
			}
		}
	}
	return m, nil
}

// QuotaLimits returns user's limits now (server.QuotaManager).
func (m *Manager) QuotaLimits(user string) (storageBytes, messages int64) {
	l := m.Limits(user)
	return l.StorageBytes, l.Messages
}

// Limits returns user's limits now. With shared overrides it reads the
// user's from the store (one key), so a SETQUOTA made on another front end
// applies here too; if the store cannot answer, the last one read counts.
func (m *Manager) Limits(user string) Limits {
	user = userKey(user)
	if m.cfg.Shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		m.refreshShared(ctx, user)
		cancel()
	}
	m.mu.RLock()
	o, ok := m.overrides[user]
	m.mu.RUnlock()
	if ok {
		return o.Limits
	}
	l := m.cfg.Default
	if u, ok := m.cfg.Users[user]; ok {
		if u.StorageBytes >= 0 {
			l.StorageBytes = u.StorageBytes
		}
		if u.Messages >= 0 {
			l.Messages = u.Messages
		}
	}
	return l
}

// IsQuotaAdmin says whether user is a configured quota administrator.
func (m *Manager) IsQuotaAdmin(user string) bool { return m.admins[userKey(user)] }

// userKey is the form of a user name the maps are keyed by.
func userKey(user string) string {
	if n, err := auth.NormalizeName(user); err == nil {
		return n
	}
	return user
}

// SetQuotaLimits replaces user's limits, durably when an overrides file is
// configured, before the new limits apply.
func (m *Manager) SetQuotaLimits(user string, storageBytes, messages int64) error {
	user = userKey(user)
	if m.cfg.Shared != nil {
		// Another front end may have set a later stamp.
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		err := m.loadShared(ctx)
		cancel()
		if err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	stamp := max(m.now().UnixNano(), m.clock+1)
	return m.replace([]Override{{User: user, Limits: Limits{StorageBytes: storageBytes, Messages: messages}, Stamp: stamp}})
}

// replace stores the overrides given (durably when there is a file), m.mu
// held.
func (m *Manager) replace(set []Override) error {
	next := make(map[string]Override, len(m.overrides)+len(set))
	for k, v := range m.overrides {
		next[k] = v
	}
	clock := m.clock
	for _, o := range set {
		next[o.User] = o
		clock = max(clock, o.Stamp)
	}
	switch {
	case m.cfg.Shared != nil:
		values := make(map[string][]byte, len(set))
		for _, o := range set {
			v, err := json.Marshal(o)
			if err != nil {
				return fmt.Errorf("quota: %w", err)
			}
			values[sharedPrefix+o.User] = v
		}
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		defer cancel()
		if err := m.cfg.Shared.PutSettings(ctx, values); err != nil {
			return fmt.Errorf("quota: %w", err)
		}
	case m.cfg.OverridesFile != "":
		if err := writeFileDurably(m.cfg.OverridesFile, next); err != nil {
			return err
		}
	}
	m.overrides, m.clock = next, clock
	return nil
}

// loadShared replaces the overrides held in memory by the store's.
func (m *Manager) loadShared(ctx context.Context) error {
	all, err := m.cfg.Shared.Settings(ctx, sharedPrefix)
	if err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	next := make(map[string]Override, len(all))
	var clock int64
	for k, v := range all {
		var o Override
		if err := json.Unmarshal(v, &o); err != nil {
			return fmt.Errorf("quota: stored override %s: %w", k, err)
		}
		o.User = k[len(sharedPrefix):]
		next[o.User] = o
		clock = max(clock, o.Stamp)
	}
	m.mu.Lock()
	m.overrides, m.clock = next, max(m.clock, clock)
	m.mu.Unlock()
	return nil
}

// refreshShared reads one user's override from the store into memory; on
// an error the one held stays.
func (m *Manager) refreshShared(ctx context.Context, user string) {
	v, ok, err := m.cfg.Shared.Setting(ctx, sharedPrefix+user)
	if err != nil {
		return
	}
	var o Override
	if ok {
		if json.Unmarshal(v, &o) != nil {
			return
		}
		o.User = user
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !ok {
		// SETQUOTA never removes an override, but a store restored from
		// a backup may lack one: the store is the reference.
		if _, had := m.overrides[user]; had {
			next := make(map[string]Override, len(m.overrides))
			for k, x := range m.overrides {
				if k != user {
					next[k] = x
				}
			}
			m.overrides = next
		}
		return
	}
	if cur, had := m.overrides[user]; had && cur == o {
		return
	}
	next := make(map[string]Override, len(m.overrides)+1)
	for k, x := range m.overrides {
		next[k] = x
	}
	next[user] = o
	m.overrides, m.clock = next, max(m.clock, o.Stamp)
}

// CheckQuota says whether user may add addBytes bytes in addMessages
// messages: nil, or an error wrapping store.ErrOverQuota.
func (m *Manager) CheckQuota(ctx context.Context, user string, addBytes, addMessages int64) error {
	l := m.Limits(user)
	if l.StorageBytes <= 0 && l.Messages <= 0 {
		return nil
	}
	acct, err := m.st.Open(ctx, user)
	if err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	defer acct.Close()
	u, err := acct.Usage(ctx)
	if err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	if l.StorageBytes > 0 && u.Bytes+addBytes > l.StorageBytes {
		return fmt.Errorf("quota: %s: %d bytes used, %d more exceed the limit of %d: %w",
			user, u.Bytes, addBytes, l.StorageBytes, store.ErrOverQuota)
	}
	if l.Messages > 0 && u.Messages+addMessages > l.Messages {
		return fmt.Errorf("quota: %s: %d messages, %d more exceed the limit of %d: %w",
			user, u.Messages, addMessages, l.Messages, store.ErrOverQuota)
	}
	return nil
}

// LMTPChecker adapts a Manager to lmtp.QuotaChecker: one delivery is one
// message of size bytes.
type LMTPChecker struct{ M *Manager }

// CheckQuota implements lmtp.QuotaChecker.
func (c LMTPChecker) CheckQuota(ctx context.Context, user string, size int64) error {
	return c.M.CheckQuota(ctx, user, size, 1)
}

// writeFileDurably writes v as JSON to a temporary file, syncs it and
// renames it over path, so a crash leaves the old or the new file.
func writeFileDurably(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".quota-*")
	if err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		if d, derr := os.Open(filepath.Dir(path)); derr == nil {
			err = d.Sync()
			d.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	return nil
}
