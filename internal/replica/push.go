package replica

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Pusher keeps one peer in step continuously: every local commit of a
// user (reported by Changed, which the store wrapper of Notify calls)
// syncs that user with the peer at once, and every FullEvery all users
// are synced, which also catches commits made by other processes
// (tidemark deliver). The connection is kept open and redialled with
// backoff when it fails; users whose sync failed are retried.
type Pusher struct {
	Local     *Local
	Addr      string
	Auth      Auth
	FullEvery time.Duration
	Logger    *slog.Logger
	// OnSynced, when set, is told of each user synced and the error.
	OnSynced func(user string, err error)

	mu            sync.Mutex
	dirty         map[string]bool // guarded by mu
	settingsDirty bool            // guarded by mu
	wake          chan struct{}
	once          sync.Once
}

func (p *Pusher) init() {
	p.once.Do(func() {
		p.wake = make(chan struct{}, 1)
		p.mu.Lock()
		if p.dirty == nil {
			p.dirty = make(map[string]bool)
		}
		p.mu.Unlock()
	})
}

// Changed marks a user as changed here; Run syncs it promptly. It never
// blocks.
func (p *Pusher) Changed(user string) {
	p.init()
	p.mu.Lock()
	p.dirty[user] = true
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// SettingsChanged marks the accounts or quota settings as changed here (a
// peer applied some); Run syncs them promptly. Other changes (tidemark
// user in another process, SETQUOTA) are noticed by polling the clocks of
// Accounts and Quotas every SettingsPoll.
func (p *Pusher) SettingsChanged() {
	p.init()
	p.mu.Lock()
	p.settingsDirty = true
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// SettingsPoll is how often a pusher reads the clocks of the accounts and
// quota settings to notice their changes.
const SettingsPoll = time.Second

// settingsClock is where the accounts' and quota settings' clocks stood.
type settingsClock struct{ logins, quotas int64 }

// syncSettings pushes the accounts and quota settings when they changed
// since the last time.
func (p *Pusher) syncSettings(ctx context.Context, c *Client, force bool, last *settingsClock) error {
	var clock settingsClock
	if p.Local.Accounts != nil {
		var err error
		if clock.logins, err = p.Local.Accounts.Clock(ctx); err != nil {
			return err
		}
	}
	if p.Local.Quotas != nil {
		clock.quotas = p.Local.Quotas.Clock()
	}
	p.mu.Lock()
	dirty := p.settingsDirty
	p.settingsDirty = false
	p.mu.Unlock()
	if !force && !dirty && clock == *last {
		return nil
	}
	_, err := SyncLogins(ctx, p.Local, c, Options{Logger: p.logger()})
	if err == nil {
		_, err = SyncQuotas(ctx, p.Local, c, nil)
	}
	if err != nil {
		p.mu.Lock()
		p.settingsDirty = true
		p.mu.Unlock()
		return err
	}
	*last = clock
	return nil
}

func (p *Pusher) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Run pushes until ctx ends.
func (p *Pusher) Run(ctx context.Context) {
	p.init()
	full := p.FullEvery
	if full <= 0 {
		full = time.Minute
	}
	var c *Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	backoff := time.Second
	needFull := true
	ticker := time.NewTicker(full)
	defer ticker.Stop()
	poll := time.NewTicker(SettingsPoll)
	defer poll.Stop()
	var settings settingsClock
	for ctx.Err() == nil {
		if c == nil {
			var err error
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			c, err = Dial(dctx, p.Addr, p.Auth, p.Local.Node())
			cancel()
			if err != nil {
				p.logger().Warn("replication peer unreachable", "peer", p.Addr, "err", err, "retry_in", backoff)
				select {
				case <-ctx.Done():
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 30*time.Second)
				continue
			}
			backoff = time.Second
			needFull = true
		}
		if err := p.syncSettings(ctx, c, needFull, &settings); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.logger().Warn("replication: accounts and quota settings", "peer", p.Addr, "err", err)
			c.Close()
			c = nil
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			continue
		}
		var users []string
		if needFull {
			us, err := Union(ctx, p.Local, c)
			if err != nil {
				p.logger().Warn("replication: list users", "peer", p.Addr, "err", err)
				c.Close()
				c = nil
				continue
			}
			users = us
			needFull = false
		}
		p.mu.Lock()
		for u := range p.dirty {
			users = append(users, u)
		}
		clear(p.dirty)
		p.mu.Unlock()
		failed := false
		seen := make(map[string]bool)
		for _, u := range users {
			if seen[u] {
				continue
			}
			seen[u] = true
			_, err := SyncUser(ctx, p.Local, c, u, Options{Logger: p.logger()})
			if p.OnSynced != nil {
				p.OnSynced(u, err)
			}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				p.logger().Warn("replication sync failed", "peer", p.Addr, "user", u, "err", err)
				p.mu.Lock()
				p.dirty[u] = true
				p.mu.Unlock()
				failed = true
			}
		}
		if failed {
			// The connection may be broken: start afresh after a pause.
			c.Close()
			c = nil
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			continue
		}
		select {
		case <-ctx.Done():
		case <-p.wake:
		case <-poll.C:
		case <-ticker.C:
			needFull = true
		}
	}
}

// Union lists the users either side holds.
func Union(ctx context.Context, a, b Side) ([]string, error) {
	ua, err := a.Users(ctx)
	if err != nil {
		return nil, err
	}
	ub, err := b.Users(ctx)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool)
	var out []string
	for _, u := range append(ua, ub...) {
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out, nil
}

// Notify wraps a store so that every successful change made through its
// accounts calls changed with the user's name: the trigger of continuous
// replication. Changes applied by replication itself (through
// OpenReplica) do not call it, so a change never bounces back.
func Notify(st store.Store, changed func(user string)) store.Store {
	return &notifyStore{Store: st, changed: changed}
}

type notifyStore struct {
	store.Store
	changed func(string)
}

func (s *notifyStore) Open(ctx context.Context, user string) (store.Account, error) {
	a, err := s.Store.Open(ctx, user)
	if err != nil {
		return nil, err
	}
	return &notifyAccount{Account: a, changed: s.changed}, nil
}

// Shared, TryLead and Ping pass the wrapped store's roles through: the
// wrapper must not make a store shared by several processes look like this
// process's own (open mailboxes would trust their memory, every node would
// prune tombstones) nor hide its health check.
func (s *notifyStore) Shared() bool { return store.IsShared(s.Store) }

func (s *notifyStore) TryLead(ctx context.Context, job string) (func(), bool, error) {
	if l, ok := s.Store.(store.Leader); ok {
		return l.TryLead(ctx, job)
	}
	return func() {}, true, nil
}

func (s *notifyStore) Ping(ctx context.Context) error {
	if p, ok := s.Store.(store.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (s *notifyStore) CreateUser(ctx context.Context, user string) error {
	err := s.Store.CreateUser(ctx, user)
	if err == nil {
		s.changed(user)
	}
	return err
}

// OpenMetadata passes the store's metadata through (store.MetadataStore),
// calling changed after a SETMETADATA that changed something.
func (s *notifyStore) OpenMetadata(ctx context.Context, user string) (store.Metadata, error) {
	ms, ok := s.Store.(store.MetadataStore)
	if !ok {
		return nil, fmt.Errorf("metadata: %w", store.ErrCannot)
	}
	md, err := ms.OpenMetadata(ctx, user)
	if err != nil {
		return nil, err
	}
	return &notifyMetadata{Metadata: md, user: user, changed: s.changed}, nil
}

type notifyMetadata struct {
	store.Metadata
	user    string
	changed func(string)
}

func (m *notifyMetadata) SetMetadata(ctx context.Context, id store.MailboxID, entries []store.MetadataEntry, limits store.MetadataLimits) (store.ModSeq, error) {
	ms, err := m.Metadata.SetMetadata(ctx, id, entries, limits)
	if err == nil && ms != 0 {
		m.changed(m.user)
	}
	return ms, err
}

type notifyAccount struct {
	store.Account
	changed func(string)
}

func (a *notifyAccount) done(err error) {
	if err == nil {
		a.changed(a.User())
	}
}

func (a *notifyAccount) CreateMailbox(ctx context.Context, name string, opts store.CreateOptions) (store.MailboxInfo, error) {
	m, err := a.Account.CreateMailbox(ctx, name, opts)
	a.done(err)
	return m, err
}

func (a *notifyAccount) DeleteMailbox(ctx context.Context, name string) error {
	err := a.Account.DeleteMailbox(ctx, name)
	a.done(err)
	return err
}

func (a *notifyAccount) RenameMailbox(ctx context.Context, oldName, newName string) error {
	err := a.Account.RenameMailbox(ctx, oldName, newName)
	a.done(err)
	return err
}

func (a *notifyAccount) SetSubscribed(ctx context.Context, name string, subscribed bool) error {
	err := a.Account.SetSubscribed(ctx, name, subscribed)
	a.done(err)
	return err
}

func (a *notifyAccount) Append(ctx context.Context, id store.MailboxID, msgs []store.NewMessage) (store.AppendResult, error) {
	r, err := a.Account.Append(ctx, id, msgs)
	a.done(err)
	return r, err
}

func (a *notifyAccount) SetFlags(ctx context.Context, id store.MailboxID, uids store.UIDSet, op store.FlagOp, flags store.Flags, unchangedSince store.ModSeq) (store.FlagResult, error) {
	r, err := a.Account.SetFlags(ctx, id, uids, op, flags, unchangedSince)
	if err == nil && r.ModSeq != 0 {
		a.changed(a.User())
	}
	return r, err
}

func (a *notifyAccount) Expunge(ctx context.Context, id store.MailboxID, uids store.UIDSet) (store.ExpungeResult, error) {
	r, err := a.Account.Expunge(ctx, id, uids)
	if err == nil && r.ModSeq != 0 {
		a.changed(a.User())
	}
	return r, err
}

func (a *notifyAccount) ExpungeDeleted(ctx context.Context, id store.MailboxID, within store.UIDSet) (store.ExpungeResult, error) {
	r, err := a.Account.ExpungeDeleted(ctx, id, within)
	if err == nil && r.ModSeq != 0 {
		a.changed(a.User())
	}
	return r, err
}

func (a *notifyAccount) Copy(ctx context.Context, src, dst store.MailboxID, uids store.UIDSet) (store.CopyResult, error) {
	r, err := a.Account.Copy(ctx, src, dst, uids)
	a.done(err)
	return r, err
}

func (a *notifyAccount) Move(ctx context.Context, src, dst store.MailboxID, uids store.UIDSet) (store.CopyResult, error) {
	r, err := a.Account.Move(ctx, src, dst, uids)
	a.done(err)
	return r, err
}

// The optional abilities of the wrapped store and its accounts pass
// through, so that a replicating server offers what the store offers:
// group commit (store.DeferredSync), URLAUTH keys and ACLs (sharing.go), \Recent, REPLACE,
// default mailboxes, the text index and stored sort keys. Those that
// change mail call changed like the other writes.

var (
	_ store.DeferredSync   = (*notifyStore)(nil)
	_ store.AccessKeyStore = (*notifyStore)(nil)
	_ store.RecentStore    = (*notifyAccount)(nil)
	_ store.Replacer       = (*notifyAccount)(nil)
	_ store.DefaultCreator = (*notifyAccount)(nil)
	_ store.TextSearcher   = (*notifyAccount)(nil)
	_ store.KeysReader     = (*notifyAccount)(nil)
)

func (s *notifyStore) MakeDurable(ctx context.Context) error {
	if ds, ok := s.Store.(store.DeferredSync); ok {
		return ds.MakeDurable(ctx)
	}
	return nil
}

// ClaimRecent answers, without \Recent state, as if every message had been
// claimed.
func (a *notifyAccount) ClaimRecent(ctx context.Context, id store.MailboxID, upTo store.UID) (store.UID, error) {
	rs, ok := a.Account.(store.RecentStore)
	if !ok {
		return store.MaxUID, nil
	}
	return rs.ClaimRecent(ctx, id, upTo)
}

func (a *notifyAccount) RecentCount(ctx context.Context, id store.MailboxID) (uint32, error) {
	rs, ok := a.Account.(store.RecentStore)
	if !ok {
		return 0, nil
	}
	return rs.RecentCount(ctx, id)
}

func (a *notifyAccount) Replace(ctx context.Context, src store.MailboxID, uid store.UID, dst store.MailboxID, msg store.NewMessage) (store.ReplaceResult, error) {
	r, ok := a.Account.(store.Replacer)
	if !ok {
		return store.ReplaceResult{}, fmt.Errorf("replace: %w", store.ErrCannot)
	}
	res, err := r.Replace(ctx, src, uid, dst, msg)
	a.done(err)
	return res, err
}

func (a *notifyAccount) CreateDefaults(ctx context.Context, defs []store.DefaultMailbox) ([]store.MailboxInfo, error) {
	dc, ok := a.Account.(store.DefaultCreator)
	if !ok {
		return nil, nil
	}
	made, err := dc.CreateDefaults(ctx, defs)
	if err == nil && len(made) > 0 {
		a.changed(a.User())
	}
	return made, err
}

func (a *notifyAccount) SearchText(ctx context.Context, id store.MailboxID, field store.TextField, needle string, within store.UIDSet) (store.TextHits, error) {
	return store.SearchText(ctx, a.Account, id, field, needle, within)
}

// MessageKeys reads stored sort keys; a store without them answers
// ErrCannot, and the caller computes them.
func (a *notifyAccount) MessageKeys(ctx context.Context, id store.MailboxID, uids store.UIDSet, fn func(*store.MessageKeys) error) error {
	kr, ok := a.Account.(store.KeysReader)
	if !ok {
		return fmt.Errorf("message keys: %w", store.ErrCannot)
	}
	return kr.MessageKeys(ctx, id, uids, fn)
}
