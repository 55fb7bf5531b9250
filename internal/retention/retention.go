// Package retention prunes expunge history (tombstones) older than a
// configured age, and the tombstones of deleted mailboxes.
//
// # Model
//
// Tombstones are stamped with modseqs, not times, and a modseq says
// nothing about when it was allocated. The retention loop therefore keeps
// its own clock-to-modseq map: at each pass it records, per mailbox, a
// watermark (now, HIGHESTMODSEQ). Every modseq at or below a watermark
// taken at time T was allocated before T. So once T is older than the
// retention age, everything at or below that watermark's modseq is older
// than the age too, and PruneTombstones(modseq) forgets exactly history
// the retention allows to forget, never younger history. Pruning lags the
// age by at most one pass interval.
//
// Watermarks are kept in a JSON file in the data directory (written to a
// temporary file, synced and renamed), so a restart does not restart the
// clock. A mailbox is keyed by its id, which is never reused, so a
// deleted and recreated name starts afresh. A watermark is added only when
// the mailbox's HIGHESTMODSEQ moved, and watermarks are dropped once used:
// the file stays small.
//
// The same pass prunes the other removal records replication keeps,
// each once older than the age and held by every peer
// (docs/replication.md, "Pruning"): the tombstones of deleted mailboxes
// (store.Replica.PruneMailboxTombstones), by watermarks of each user's
// account change counter, kept under the key "account" beside the
// user's mailboxes; the removal rows of ACL entries and access keys
// (store.SharingPeers) and, with Accounts, the tombstones of deleted
// logins, whose stamps follow the clock and so need no watermarks.
//
// A store shared by several processes (store.Leader) is pruned by one of
// them: Run makes its passes only while it holds the "retention" role.
// There the watermarks are kept in the store (Pruner.Shared,
// store.Settings: one value per user), so a process that takes the role
// over continues the clock where the last leader left it.
package retention

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tidemark-mail/tidemark/internal/auth"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// StateFileName is the watermark file, in the data directory.
const StateFileName = "tombstone-watermarks.json"

// mark is one watermark: every modseq up to ModSeq existed at Time.
type mark struct {
	Time   time.Time    `json:"t"`
	ModSeq store.ModSeq `json:"m"`
}

// state is the file's content: user → mailbox id → watermarks, oldest
// first.
type state map[string]map[string][]mark

// Pruner prunes tombstones older than Age.
type Pruner struct {
	Store     store.Store
	Age       time.Duration
	StateFile string
	Logger    *slog.Logger
	// OnPass, when set, is told after each pass how many mailboxes were
	// pruned and how long the pass took.
	OnPass func(pruned int, d time.Duration)
	// Shared, when set, keeps the watermarks in the store instead of
	// StateFile: every process that may lead reads the same clock.
	Shared store.Settings
	// Accounts, when set, are replicated logins whose tombstones each
	// pass prunes too: those older than Age that every peer holds
	// (auth.Accounts.PruneTombstones). Their stamps follow the clock, so
	// they need no watermarks.
	Accounts *auth.Accounts
}

// sharedPrefix starts the store.Settings key of each user's watermarks.
const sharedPrefix = "retention/"

// Run makes a pass now and then every interval until ctx ends. On a store
// shared by several processes it passes only while this process leads
// (store.Leader), trying for the role before each pass.
func (p *Pruner) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	leader, shared := p.Store.(store.Leader)
	var release func()
	defer func() {
		if release != nil {
			release()
		}
	}()
	for {
		lead := true
		if shared && release == nil {
			r, ok, err := leader.TryLead(ctx, "retention")
			if err != nil && ctx.Err() == nil {
				p.logger().Warn("tombstone retention: cannot try for the role", "err", err)
			}
			if ok {
				release = r
				p.logger().Info("tombstone retention: this process prunes for every node")
			}
			lead = ok
		}
		if lead {
			if _, err := p.Pass(ctx, time.Now()); err != nil && ctx.Err() == nil {
				p.logger().Warn("tombstone retention pass failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Pruner) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.Default()
	}
	return p.Logger
}

// Pass records a watermark for every mailbox of every user, prunes each
// mailbox to its newest watermark older than now-Age, and saves the
// watermarks. It returns how many mailboxes had history pruned.
func (p *Pruner) Pass(ctx context.Context, now time.Time) (int, error) {
	start := time.Now()
	st, err := p.load(ctx)
	if err != nil {
		return 0, err
	}
	users, err := p.Store.Users(ctx)
	if err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	cutoff := now.Add(-p.Age)
	next := state{}
	pruned := 0
	var firstErr error
	for _, user := range users {
		n, marks, err := p.passUser(ctx, user, st[user], now, cutoff)
		pruned += n
		if err != nil {
			if ctx.Err() != nil {
				return pruned, ctx.Err()
			}
			if firstErr == nil {
				firstErr = err
			}
			marks = st[user] // keep what was known
		}
		if len(marks) > 0 {
			next[user] = marks
		}
	}
	if err := p.save(ctx, st, next); err != nil {
		return pruned, err
	}
	if p.Accounts != nil {
		n, err := p.Accounts.PruneTombstones(ctx, cutoff.UnixNano())
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("retention: %w", err)
		}
		if n > 0 {
			pruned++
			p.logger().Info("account tombstones pruned", "accounts", n)
		}
	}
	if p.OnPass != nil {
		p.OnPass(pruned, time.Since(start))
	}
	if pruned > 0 {
		p.logger().Info("tombstones pruned", "mailboxes", pruned, "older_than", cutoff.UTC().Format(time.RFC3339))
	}
	return pruned, firstErr
}

func (p *Pruner) passUser(ctx context.Context, user string, old map[string][]mark, now, cutoff time.Time) (int, map[string][]mark, error) {
	acct, err := p.Store.Open(ctx, user)
	if err != nil {
		return 0, nil, fmt.Errorf("retention: %s: %w", user, err)
	}
	defer acct.Close()
	boxes, err := acct.Mailboxes(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("retention: %s: %w", user, err)
	}
	out := map[string][]mark{}
	pruned := 0
	for _, mb := range boxes {
		key := strconv.FormatInt(int64(mb.ID), 10)
		marks := old[key]
		if use := newestBefore(marks, cutoff); use >= 0 {
			if err := acct.PruneTombstones(ctx, mb.ID, marks[use].ModSeq); err != nil {
				return pruned, nil, fmt.Errorf("retention: %s %q: %w", user, mb.Name, err)
			}
			pruned++
			// Used watermarks are of no more use: pruning only moves up.
			marks = marks[use+1:]
		}
		if len(marks) == 0 || marks[len(marks)-1].ModSeq != mb.HighestModSeq {
			marks = append(marks, mark{Time: now, ModSeq: mb.HighestModSeq})
		}
		out[key] = marks
	}
	n, marks, err := p.passAccount(ctx, user, old[accountKey], now, cutoff)
	if err != nil {
		return pruned, nil, err
	}
	pruned += n
	if len(marks) > 0 {
		out[accountKey] = marks
	}
	return pruned, out, nil
}

// accountKey keys the watermarks of a user's account change counter,
// beside those of its mailboxes (keyed by mailbox id).
const accountKey = "account"

// passAccount prunes the user's mailbox tombstones (store.Replica.
// PruneMailboxTombstones) by watermarks of the account change counter,
// taken like the mailboxes' (the counter stamps every create, rename and
// delete). It returns 1 when tombstones went. A store without replicas
// has nothing to prune here.
func (p *Pruner) passAccount(ctx context.Context, user string, marks []mark, now, cutoff time.Time) (int, []mark, error) {
	r, err := p.Store.OpenReplica(ctx, user)
	if errors.Is(err, store.ErrCannot) {
		return 0, nil, nil
	} else if err != nil {
		return 0, nil, fmt.Errorf("retention: %s: %w", user, err)
	}
	defer r.Close()
	st, err := r.AccountState(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("retention: %s: %w", user, err)
	}
	pruned := 0
	if use := newestBefore(marks, cutoff); use >= 0 {
		n, err := r.PruneMailboxTombstones(ctx, uint64(marks[use].ModSeq))
		if err != nil {
			return 0, nil, fmt.Errorf("retention: %s: %w", user, err)
		}
		if n > 0 {
			pruned = 1
		}
		marks = marks[use+1:]
	}
	if n, err := p.pruneSharing(ctx, user, cutoff); err != nil {
		return 0, nil, err
	} else if n > 0 {
		pruned = 1
	}
	if counter := store.ModSeq(st.Counter); len(marks) == 0 || marks[len(marks)-1].ModSeq != counter {
		marks = append(marks, mark{Time: now, ModSeq: counter})
	}
	return pruned, marks, nil
}

// pruneSharing prunes the user's ACL and access key removal rows that
// every peer holds and that are stamped before cutoff (their stamps
// follow the clock, store.NextStamp), when the store records what peers
// hold (store.SharingPeers).
func (p *Pruner) pruneSharing(ctx context.Context, user string, cutoff time.Time) (int, error) {
	as, ok := p.Store.(store.ACLStore)
	if !ok {
		return 0, nil
	}
	h, err := as.OpenACL(ctx, user)
	if errors.Is(err, store.ErrCannot) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("retention: %s: %w", user, err)
	}
	defer h.Close()
	sp, ok := store.SharingPeersOf(h)
	if !ok || cutoff.UnixNano() <= 0 {
		return 0, nil
	}
	n, err := sp.PruneSharing(ctx, uint64(cutoff.UnixNano()))
	if err != nil {
		return 0, fmt.Errorf("retention: %s: %w", user, err)
	}
	return n, nil
}

// newestBefore returns the index of the newest watermark taken at or
// before cutoff, -1 when none: it bounds what may go.
func newestBefore(marks []mark, cutoff time.Time) int {
	use := -1
	for i, m := range marks {
		if !m.Time.After(cutoff) {
			use = i
		}
	}
	return use
}

func (p *Pruner) load(ctx context.Context) (state, error) {
	if p.Shared != nil {
		all, err := p.Shared.Settings(ctx, sharedPrefix)
		if err != nil {
			return nil, fmt.Errorf("retention: %w", err)
		}
		st := state{}
		for k, v := range all {
			var marks map[string][]mark
			if err := json.Unmarshal(v, &marks); err != nil {
				return nil, fmt.Errorf("retention: stored watermarks %s: %w", k, err)
			}
			st[k[len(sharedPrefix):]] = marks
		}
		return st, nil
	}
	data, err := os.ReadFile(p.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return state{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("retention: %s: %w", p.StateFile, err)
	}
	return st, nil
}

// save replaces the state (old is what load returned) atomically and
// durably: the file, or the store's values in one transaction.
func (p *Pruner) save(ctx context.Context, old, st state) error {
	if p.Shared != nil {
		values := map[string][]byte{}
		for user := range old {
			if _, ok := st[user]; !ok {
				values[sharedPrefix+user] = nil
			}
		}
		for user, marks := range st {
			v, err := json.Marshal(marks)
			if err != nil {
				return fmt.Errorf("retention: %w", err)
			}
			// Only what moved is written: most mailboxes are idle.
			if was, err := json.Marshal(old[user]); err == nil && bytes.Equal(was, v) {
				continue
			}
			values[sharedPrefix+user] = v
		}
		if err := p.Shared.PutSettings(ctx, values); err != nil {
			return fmt.Errorf("retention: %w", err)
		}
		return nil
	}
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p.StateFile), ".watermarks-*")
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err = tmp.Write(data); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p.StateFile)
	}
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	return nil
}
