package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

// Errors returned by Accounts. Authenticate returns only ErrAuthFailed,
// ErrThrottled, or an operational error (database unreadable) that is
// neither; callers map the first two to NO [AUTHENTICATIONFAILED] and
// the third to NO [UNAVAILABLE] (RFC 5530).
var (
	ErrExists      = errors.New("account already exists")
	ErrNoUser      = errors.New("no such account")
	ErrAuthFailed  = errors.New("authentication failed")
	ErrThrottled   = errors.New("too many failed logins, try again later")
	ErrBadPassword = errors.New("unacceptable password")
)

// MaxPasswordLen bounds a password in bytes; longer input is refused before
// any hashing.
const MaxPasswordLen = 1024

// Options tune Accounts. The zero value of each field selects its default;
// a negative value, where allowed, turns the feature off.
type Options struct {
	// Hash is the argon2id configuration for new hashes. Default
	// DefaultHashParams.
	Hash HashParams
	// FailureDelay is how long a failed or throttled attempt waits before
	// its answer. Default 1 s; negative: no delay.
	FailureDelay time.Duration
	// MaxFailuresPerIP is the failures allowed from one address (IPv6: one
	// /64) within FailureWindow before the address is blocked for Cooldown.
	// MaxFailuresPerUser is the same for one user at one address: failures
	// from elsewhere never lock out a user's correct password from an
	// address that has not failed. Defaults 20 and 10; negative: unlimited.
	MaxFailuresPerIP   int
	MaxFailuresPerUser int
	// UserBrakeFailures is the failures for one user from all addresses
	// together within FailureWindow after which that user's password
	// checks are spaced UserBrakeInterval apart (queued, never refused).
	// Defaults 100 and 1 s; negative UserBrakeFailures: no brake.
	UserBrakeFailures int
	UserBrakeInterval time.Duration
	// FailureWindow defaults to 15 minutes, Cooldown to 5 minutes.
	FailureWindow time.Duration
	Cooldown      time.Duration
	// CacheTTL is how long a verified password skips argon2id. Default 5
	// minutes; negative: no cache.
	CacheTTL time.Duration
	// MaxConcurrentHashes bounds simultaneous argon2id computations, each
	// of which holds Hash.Memory KiB. Default GOMAXPROCS.
	MaxConcurrentHashes int
	// Now is the clock; nil means time.Now. Tests move it forward.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Hash == (HashParams{}) {
		o.Hash = DefaultHashParams
	}
	if o.FailureDelay == 0 {
		o.FailureDelay = time.Second
	}
	if o.MaxFailuresPerIP == 0 {
		o.MaxFailuresPerIP = 20
	}
	if o.MaxFailuresPerUser == 0 {
		o.MaxFailuresPerUser = 10
	}
	if o.UserBrakeFailures == 0 {
		o.UserBrakeFailures = 100
	}
	if o.UserBrakeInterval <= 0 {
		o.UserBrakeInterval = time.Second
	}
	if o.FailureWindow <= 0 {
		o.FailureWindow = 15 * time.Minute
	}
	if o.Cooldown <= 0 {
		o.Cooldown = 5 * time.Minute
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = 5 * time.Minute
	}
	if o.MaxConcurrentHashes <= 0 {
		o.MaxConcurrentHashes = runtime.GOMAXPROCS(0)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Accounts is the set of accounts in one data directory. It is safe for
// concurrent use, and several processes may open the same directory.
type Accounts struct {
	recs   records
	opts   Options
	hashes chan struct{} // semaphore of MaxConcurrentHashes slots
	// verified counts password checks that ran argon2id (dummy ones
	// included): a refused or throttled attempt must not add to it.
	verified atomic.Uint64
	cache    *credCache
	byIP     *failureLimiter // per address
	byPair   *failureLimiter // per user and address
	byUser   *userBrake      // per user, all addresses
	// sleep waits for the brake; tests replace it to observe the waits.
	sleep func(context.Context, time.Duration) error
	// dummy is a well-formed record with the current parameters, verified
	// against when the user does not exist so that the answer takes as long.
	dummy phcHash
}

// OpenAccounts opens (creating if needed) the accounts of dataDir with
// default Options.
func OpenAccounts(dataDir string) (*Accounts, error) {
	return OpenAccountsWith(dataDir, Options{})
}

// OpenAccountsWith opens (creating if needed) the accounts of dataDir.
func OpenAccountsWith(dataDir string, opts Options) (*Accounts, error) {
	if err := opts.withDefaults().Hash.validate(); err != nil {
		return nil, err
	}
	db, err := openDB(dataDir)
	if err != nil {
		return nil, err
	}
	a, err := newAccounts(sqliteRecords{db}, opts)
	if err != nil {
		db.Close()
	}
	return a, err
}

// newAccounts gives Accounts over recs, which it closes on Close.
func newAccounts(recs records, opts Options) (*Accounts, error) {
	opts = opts.withDefaults()
	if err := opts.Hash.validate(); err != nil {
		return nil, err
	}
	// The dummy needs the parameters of a real record, not a real key:
	// random bytes cost nothing to make and match no password.
	dummy := phcHash{params: opts.Hash, salt: make([]byte, opts.Hash.SaltLen), key: make([]byte, opts.Hash.KeyLen)}
	if _, err := rand.Read(dummy.key); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return &Accounts{
		recs:   recs,
		opts:   opts,
		hashes: make(chan struct{}, opts.MaxConcurrentHashes),
		cache:  newCredCache(opts.CacheTTL),
		byIP:   newFailureLimiter(opts.MaxFailuresPerIP, opts.FailureWindow, opts.Cooldown),
		byPair: newFailureLimiter(opts.MaxFailuresPerUser, opts.FailureWindow, opts.Cooldown),
		byUser: newUserBrake(opts.UserBrakeFailures, opts.FailureWindow, opts.UserBrakeInterval),
		sleep:  sleepCtx,
		dummy:  dummy,
	}, nil
}

// Close releases the database.
func (a *Accounts) Close() error { return a.recs.close() }

func checkPassword(password string) error {
	switch {
	case password == "":
		return fmt.Errorf("%w: empty", ErrBadPassword)
	case len(password) > MaxPasswordLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrBadPassword, MaxPasswordLen)
	case strings.ContainsRune(password, 0):
		// SASL PLAIN (RFC 4616) separates fields with NUL, so such a
		// password could never be presented.
		return fmt.Errorf("%w: contains NUL", ErrBadPassword)
	}
	return nil
}

// hash runs argon2id for a new record, holding one hash slot.
func (a *Accounts) hash(ctx context.Context, password string) (string, error) {
	if err := a.acquireHashSlot(ctx); err != nil {
		return "", err
	}
	defer a.releaseHashSlot()
	return hashPassword(password, a.opts.Hash)
}

func (a *Accounts) acquireHashSlot(ctx context.Context) error {
	select {
	case a.hashes <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *Accounts) releaseHashSlot() { <-a.hashes }

// PasswordHashes returns how many login attempts have cost an argon2id
// computation since Open, for metrics and for the tests that check a
// throttled attempt costs none.
func (a *Accounts) PasswordHashes() uint64 { return a.verified.Load() }

// newRecord validates a name and a new password and hashes the password.
func (a *Accounts) newRecord(name, password string) (string, string, error) {
	name, err := NormalizeName(name)
	if err != nil {
		return "", "", err
	}
	if err := checkPassword(password); err != nil {
		return "", "", err
	}
	rec, err := a.hash(context.Background(), password)
	return name, rec, err
}

// Add creates an account. It fails with ErrExists if name is taken,
// ErrInvalidName or ErrBadPassword. A tombstone left by an earlier delete
// of the name is replaced (the new record's stamp is above it).
func (a *Accounts) Add(name, password string) error {
	name, rec, err := a.newRecord(name, password)
	if err != nil {
		return err
	}
	return a.change(name, "add", func(cur Record, live bool, stamp, now int64) (Record, error) {
		if live {
			return Record{}, fmt.Errorf("%w: %s", ErrExists, name)
		}
		return Record{Name: name, Stamp: stamp, Hash: rec, Created: now}, nil
	})
}

// SetPassword replaces an account's password (ErrNoUser if there is no
// such account). Cached verifications of the old password stop working at
// once, in this process and, because the record changes, in every other.
func (a *Accounts) SetPassword(name, password string) error {
	name, rec, err := a.newRecord(name, password)
	if err != nil {
		return err
	}
	return a.change(name, "set password of", func(cur Record, live bool, stamp, now int64) (Record, error) {
		if !live {
			return Record{}, fmt.Errorf("%w: %s", ErrNoUser, name)
		}
		return Record{Name: name, Stamp: stamp, Hash: rec, Created: cur.Created}, nil
	})
}

// Delete removes an account (ErrNoUser if there is none), leaving a
// tombstone so that replication does not bring it back. It does not touch
// the user's mail; that belongs to the store.
func (a *Accounts) Delete(name string) error {
	name, err := NormalizeName(name)
	if err != nil {
		return err
	}
	return a.change(name, "delete", func(cur Record, live bool, stamp, now int64) (Record, error) {
		if !live {
			return Record{}, fmt.Errorf("%w: %s", ErrNoUser, name)
		}
		return Record{Name: name, Stamp: stamp, Deleted: true}, nil
	})
}

// change runs one local change of name's record in an update with a
// fresh stamp (nextStamp): decide gets what is held for name (live: an
// account exists) and returns the record that replaces it.
func (a *Accounts) change(name, what string, decide func(cur Record, live bool, stamp, now int64) (Record, error)) error {
	defer a.cache.forget(name)
	err := a.recs.update(context.Background(), func(tx recordTx) error {
		stamp, err := a.nextStamp(tx)
		if err != nil {
			return err
		}
		cur, ok, err := tx.current(name)
		if err != nil {
			return err
		}
		now := a.opts.Now().Unix()
		r, err := decide(cur, ok && !cur.Deleted, stamp, now)
		if err != nil {
			return err
		}
		return tx.put(r, now)
	})
	switch {
	case err == nil, errors.Is(err, ErrExists), errors.Is(err, ErrNoUser):
		return err
	}
	return fmt.Errorf("auth: %s %s: %w", what, name, err)
}

// List returns the account names in ascending order.
func (a *Accounts) List() ([]string, error) {
	names, err := a.recs.names(context.Background())
	if err != nil {
		return nil, fmt.Errorf("auth: list: %w", err)
	}
	return names, nil
}

// Exists reports whether an account exists. An invalid name never does.
func (a *Accounts) Exists(name string) (bool, error) {
	name, err := NormalizeName(name)
	if err != nil {
		return false, nil
	}
	_, err = a.record(context.Background(), name)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNoUser):
		return false, nil
	default:
		return false, err
	}
}

// record reads a user's PHC string.
func (a *Accounts) record(ctx context.Context, name string) (string, error) {
	rec, err := a.recs.hash(ctx, name)
	if err != nil && !errors.Is(err, ErrNoUser) {
		return "", fmt.Errorf("auth: read %s: %w", name, err)
	}
	return rec, err
}
