package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// returnsWithin runs f and fails the test if it has not returned after a
// deadline that only catches a hang.
func returnsWithin(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s did not return", what)
	}
}

// Failures are answered no sooner than FailureDelay; a success, and a
// failure whose context is cancelled, are not held back by it. The last
// two run with an hour's delay, so they cannot pass by being quick enough:
// only by not waiting.
func TestFailureIsDelayed(t *testing.T) { onBoth(t, testFailureIsDelayed) }

func testFailureIsDelayed(t *testing.T) {
	opts := testOptions()
	opts.FailureDelay = 100 * time.Millisecond
	a := openTest(t, t.TempDir(), opts)
	if err := a.Add("gina", "pw"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gina", "nobody", "bad+name"} {
		start := time.Now()
		if err := a.Authenticate(ctx, name, "wrong", peer1); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("%s: %v, want ErrAuthFailed", name, err)
		}
		if d := time.Since(start); d < opts.FailureDelay {
			t.Errorf("failed login of %s answered after %v, want >= %v", name, d, opts.FailureDelay)
		}
	}

	slow := testOptions()
	slow.FailureDelay = time.Hour
	b := openTest(t, t.TempDir(), slow)
	if err := b.Add("gina", "pw"); err != nil {
		t.Fatal(err)
	}
	returnsWithin(t, "a successful login", func() {
		if err := b.Authenticate(ctx, "gina", "pw", peer1); err != nil {
			t.Error(err)
		}
	})
	// A cancelled context cuts the delay short but keeps the answer.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	returnsWithin(t, "a failed login with a cancelled context", func() {
		if err := b.Authenticate(cctx, "gina", "wrong", peer1); err == nil {
			t.Error("wrong password accepted with cancelled context")
		}
	})
}

// TestThrottlePerUserAndAddress: failures count per user at one address;
// the right password from that address is refused while the pair is
// blocked, and never from an address that has not failed.
func TestThrottlePerUserAndAddress(t *testing.T) { onBoth(t, testThrottlePerUserAndAddress) }

func testThrottlePerUserAndAddress(t *testing.T) {
	clock := newFakeClock()
	opts := testOptions()
	opts.MaxFailuresPerUser = 3
	opts.FailureWindow = time.Minute
	opts.Cooldown = 5 * time.Minute
	opts.Now = clock.now
	a := openTest(t, t.TempDir(), opts)
	if err := a.Add("hank", "right"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := a.Authenticate(ctx, "hank", "wrong", peer1); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("failure %d: %v, want ErrAuthFailed", i, err)
		}
	}
	// Now refused without the password being checked: even the right one.
	if err := a.Authenticate(ctx, "Hank", "right", peer1); !errors.Is(err, ErrThrottled) {
		t.Fatalf("right password while blocked: %v, want ErrThrottled", err)
	}
	// The same user from an address that has not failed gets in.
	if err := a.Authenticate(ctx, "hank", "right", peer2); err != nil {
		t.Fatalf("right password from another address: %v", err)
	}
	// Other users at the blocked pair's address are unaffected.
	if err := a.Add("ida", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := a.Authenticate(ctx, "ida", "pw", peer1); err != nil {
		t.Errorf("other user while hank is blocked: %v", err)
	}
	clock.advance(opts.Cooldown - time.Second)
	if err := a.Authenticate(ctx, "hank", "right", peer1); !errors.Is(err, ErrThrottled) {
		t.Fatalf("just before cooldown ends: %v, want ErrThrottled", err)
	}
	clock.advance(2 * time.Second)
	if err := a.Authenticate(ctx, "hank", "right", peer1); err != nil {
		t.Fatalf("after cooldown: %v", err)
	}
}

// TestNoLockoutFromElsewhere is the lockout attack: wrong passwords for a
// user from many addresses (an IPv6 /48 holds 65,536 /64s) used to block
// the user everywhere. The owner's right password from an address that has
// not failed must still get in.
func TestNoLockoutFromElsewhere(t *testing.T) { onBoth(t, testNoLockoutFromElsewhere) }

func testNoLockoutFromElsewhere(t *testing.T) {
	opts := testOptions()
	opts.MaxFailuresPerIP = 20
	opts.MaxFailuresPerUser = 10
	opts.UserBrakeFailures = -1
	a := openTest(t, t.TempDir(), opts)
	if err := a.Add("vic", "right"); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		ip := netip.MustParseAddr(fmt.Sprintf("2001:db8:1:%x::1", i))
		for range 10 {
			a.Authenticate(ctx, "vic", "wrong", ip)
		}
		if err := a.Authenticate(ctx, "vic", "right", ip); !errors.Is(err, ErrThrottled) {
			t.Fatalf("attacker address %v after 10 failures: %v, want ErrThrottled", ip, err)
		}
	}
	if err := a.Authenticate(ctx, "vic", "right", netip.MustParseAddr("2001:db8:ffff::5")); err != nil {
		t.Fatalf("owner from a clean address: %v", err)
	}
	if err := a.Authenticate(ctx, "vic", "right", netip.Addr{}); err != nil {
		t.Fatalf("owner without a network peer: %v", err)
	}
}

// TestUserBrake: past UserBrakeFailures failures from all addresses, the
// user's checks are spaced UserBrakeInterval apart, queued and never
// refused; other users are not braked.
func TestUserBrake(t *testing.T) { onBoth(t, testUserBrake) }

func testUserBrake(t *testing.T) {
	clock := newFakeClock()
	opts := testOptions()
	opts.UserBrakeFailures = 5
	opts.UserBrakeInterval = time.Second
	opts.FailureWindow = time.Minute
	opts.Now = clock.now
	a := openTest(t, t.TempDir(), opts)
	var waits []time.Duration
	a.sleep = func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}
	for _, u := range []string{"walt", "xena"} {
		if err := a.Add(u, "right"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		ip := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		if err := a.Authenticate(ctx, "walt", "wrong", ip); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	for _, w := range waits {
		if w != 0 {
			t.Fatalf("braked before the threshold: %v", waits)
		}
	}
	waits = nil
	for range 3 {
		a.Authenticate(ctx, "walt", "wrong", peer2)
	}
	if err := a.Authenticate(ctx, "walt", "right", peer1); err != nil {
		t.Fatalf("braked user, right password: %v", err)
	}
	want := []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
	waits = nil
	if err := a.Authenticate(ctx, "xena", "right", peer2); err != nil || fmt.Sprint(waits) != "[0s]" {
		t.Errorf("other user: %v, waits %v", err, waits)
	}
	// The brake ends with the window.
	clock.advance(2 * opts.FailureWindow)
	waits = nil
	a.Authenticate(ctx, "walt", "right", peer1)
	if fmt.Sprint(waits) != "[0s]" {
		t.Errorf("after the window: waits %v", waits)
	}
}

// TestManyCorrectLoginsFromOneAddress: 100 concurrent correct logins from
// one address (a webmail front end, an office behind NAT) all get in,
// while a storm of wrong passwords for the same users comes from other
// addresses. Attempts in flight used to count as failures and refuse them.
func TestManyCorrectLoginsFromOneAddress(t *testing.T) {
	onBoth(t, testManyCorrectLoginsFromOneAddress)
}

func testManyCorrectLoginsFromOneAddress(t *testing.T) {
	opts := testOptions()
	opts.MaxFailuresPerIP = 20
	opts.MaxFailuresPerUser = 10
	opts.CacheTTL = -1 // every login hashes, so attempts overlap
	opts.MaxConcurrentHashes = 2
	a := openTest(t, t.TempDir(), opts)
	users := make([]string, 10)
	for i := range users {
		users[i] = fmt.Sprintf("office%d", i)
		if err := a.Add(users[i], "pw-"+users[i]); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	good := make(chan error, 100)
	var storm sync.Map
	for i := range 100 {
		u := users[i%len(users)]
		wg.Go(func() { good <- a.Authenticate(ctx, u, "pw-"+u, peer1) })
		wg.Go(func() {
			ip := netip.AddrFrom4([4]byte{203, 0, 113, byte(i % 7)})
			err := a.Authenticate(ctx, u, "guess", ip)
			storm.Store(i, err)
		})
	}
	wg.Wait()
	close(good)
	for err := range good {
		if err != nil {
			t.Errorf("correct login from the busy address: %v", err)
		}
	}
	storm.Range(func(_, v any) bool {
		if err, _ := v.(error); !errors.Is(err, ErrAuthFailed) && !errors.Is(err, ErrThrottled) {
			t.Errorf("wrong password: %v", err)
		}
		return true
	})
}

func TestSuccessResetsUserCount(t *testing.T) { onBoth(t, testSuccessResetsUserCount) }

func testSuccessResetsUserCount(t *testing.T) {
	opts := testOptions()
	opts.MaxFailuresPerUser = 3
	a := openTest(t, t.TempDir(), opts)
	if err := a.Add("jack", "right"); err != nil {
		t.Fatal(err)
	}
	for round := range 4 {
		for i := range 2 {
			if err := a.Authenticate(ctx, "jack", "wrong", peer1); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("round %d failure %d: %v", round, i, err)
			}
		}
		if err := a.Authenticate(ctx, "jack", "right", peer1); err != nil {
			t.Fatalf("round %d: right password after 2 failures: %v", round, err)
		}
	}
}

func TestFailureWindowExpires(t *testing.T) { onBoth(t, testFailureWindowExpires) }

func testFailureWindowExpires(t *testing.T) {
	clock := newFakeClock()
	opts := testOptions()
	opts.MaxFailuresPerUser = 3
	opts.FailureWindow = time.Minute
	opts.Now = clock.now
	a := openTest(t, t.TempDir(), opts)
	if err := a.Add("kim", "right"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		a.Authenticate(ctx, "kim", "wrong", peer1)
	}
	clock.advance(opts.FailureWindow + time.Second)
	// The old failures are forgotten: two more do not reach the limit.
	for range 2 {
		if err := a.Authenticate(ctx, "kim", "wrong", peer1); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("after window: %v, want ErrAuthFailed", err)
		}
	}
	if err := a.Authenticate(ctx, "kim", "right", peer1); err != nil {
		t.Fatalf("right password: %v", err)
	}
	clock.advance(2 * opts.FailureWindow)
	a.Authenticate(ctx, "kim", "right", peer1) // triggers a sweep
	if n := a.byPair.size(); n != 1 {
		t.Errorf("user limiter tracks %d keys after sweep, want 1 (the current attempt)", n)
	}
}

func TestThrottlePerIP(t *testing.T) { onBoth(t, testThrottlePerIP) }

func testThrottlePerIP(t *testing.T) {
	opts := testOptions()
	opts.MaxFailuresPerIP = 4
	a := openTest(t, t.TempDir(), opts)
	if err := a.Add("lee", "right"); err != nil {
		t.Fatal(err)
	}
	// Spraying many user names from one address.
	for i := range 4 {
		if err := a.Authenticate(ctx, fmt.Sprintf("user%d", i), "guess", peer1); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if err := a.Authenticate(ctx, "lee", "right", peer1); !errors.Is(err, ErrThrottled) {
		t.Errorf("blocked address, right password: %v, want ErrThrottled", err)
	}
	if err := a.Authenticate(ctx, "lee", "right", peer2); err != nil {
		t.Errorf("other address: %v", err)
	}
	// A success from the blocked address's neighbour does not unblock it,
	// and a success does not clear an address's count.
	if err := a.Authenticate(ctx, "lee", "right", peer1); !errors.Is(err, ErrThrottled) {
		t.Errorf("still blocked: %v, want ErrThrottled", err)
	}
	// No network peer: not limited by address.
	if err := a.Authenticate(ctx, "lee", "right", netip.Addr{}); err != nil {
		t.Errorf("zero address: %v", err)
	}
}

func TestThrottleIPv6Prefix(t *testing.T) { onBoth(t, testThrottleIPv6Prefix) }

func testThrottleIPv6Prefix(t *testing.T) {
	opts := testOptions()
	opts.MaxFailuresPerIP = 2
	a := openTest(t, t.TempDir(), opts)
	if err := a.Add("mia", "right"); err != nil {
		t.Fatal(err)
	}
	a.Authenticate(ctx, "x1", "guess", netip.MustParseAddr("2001:db8:1:2::1"))
	a.Authenticate(ctx, "x2", "guess", netip.MustParseAddr("2001:db8:1:2:ffff::9"))
	if err := a.Authenticate(ctx, "mia", "right", netip.MustParseAddr("2001:db8:1:2::77")); !errors.Is(err, ErrThrottled) {
		t.Errorf("same /64: %v, want ErrThrottled", err)
	}
	if err := a.Authenticate(ctx, "mia", "right", netip.MustParseAddr("2001:db8:1:3::1")); err != nil {
		t.Errorf("other /64: %v", err)
	}
	if got, want := addrKey(netip.MustParseAddr("::ffff:192.0.2.1")), "192.0.2.1"; got != want {
		t.Errorf("addrKey(v4-mapped) = %q, want %q", got, want)
	}
}

// Parallel attempts must not slip past the limit by all checking it before
// any of them has failed.
func TestThrottleCountsAttemptsInFlight(t *testing.T) { onBoth(t, testThrottleCountsAttemptsInFlight) }

func testThrottleCountsAttemptsInFlight(t *testing.T) {
	opts := testOptions()
	opts.MaxFailuresPerUser = 3
	opts.Hash = HashParams{Memory: 4096, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32} // slow enough to overlap
	a := openTest(t, t.TempDir(), opts)
	if err := a.Add("noah", "right"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			results <- a.Authenticate(ctx, "noah", "wrong", peer1)
		})
	}
	wg.Wait()
	close(results)
	var failed, throttled int
	for err := range results {
		switch {
		case errors.Is(err, ErrAuthFailed):
			failed++
		case errors.Is(err, ErrThrottled):
			throttled++
		default:
			t.Errorf("unexpected result %v", err)
		}
	}
	if failed != 3 || throttled != 17 {
		t.Errorf("%d checked and failed, %d throttled; want 3 and 17", failed, throttled)
	}
}

// holdAllHashSlots occupies every argon2id slot, so that any login that
// needs a hash blocks; it returns the function that frees them.
func holdAllHashSlots(a *Accounts) func() {
	for range cap(a.hashes) {
		a.hashes <- struct{}{}
	}
	return func() {
		for range cap(a.hashes) {
			<-a.hashes
		}
	}
}

func TestCacheSkipsHashAndIsInvalidated(t *testing.T) { onBoth(t, testCacheSkipsHashAndIsInvalidated) }

func testCacheSkipsHashAndIsInvalidated(t *testing.T) {
	opts := testOptions()
	opts.MaxConcurrentHashes = 1
	a := openTest(t, t.TempDir(), opts)
	if err := a.Add("olga", "pw1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Authenticate(ctx, "olga", "pw1", peer1); err != nil {
		t.Fatal(err)
	}
	free := holdAllHashSlots(a)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	// With no hash slot free, only a cache hit can answer.
	if err := a.Authenticate(short, "olga", "pw1", peer1); err != nil {
		t.Fatalf("cached login needed a hash: %v", err)
	}
	// A different password is not a hit: it waits for a slot and gives up.
	if err := a.Authenticate(short, "olga", "pw2", peer1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("uncached password: %v, want context.DeadlineExceeded", err)
	}
	free()

	if err := a.SetPassword("olga", "pw2"); err != nil {
		t.Fatal(err)
	}
	if a.cache.len() != 0 {
		t.Errorf("cache holds %d entries after SetPassword, want 0", a.cache.len())
	}
	if err := a.Authenticate(ctx, "olga", "pw1", peer1); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("old password after SetPassword: %v, want ErrAuthFailed", err)
	}
	if err := a.Authenticate(ctx, "olga", "pw2", peer1); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete("olga"); err != nil {
		t.Fatal(err)
	}
	if a.cache.len() != 0 {
		t.Errorf("cache holds %d entries after Delete, want 0", a.cache.len())
	}
}

func TestCacheExpires(t *testing.T) { onBoth(t, testCacheExpires) }

func testCacheExpires(t *testing.T) {
	clock := newFakeClock()
	opts := testOptions()
	opts.CacheTTL = time.Minute
	opts.MaxConcurrentHashes = 1
	opts.Now = clock.now
	a := openTest(t, t.TempDir(), opts)
	if err := a.Add("paul", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := a.Authenticate(ctx, "paul", "pw", peer1); err != nil {
		t.Fatal(err)
	}
	clock.advance(opts.CacheTTL)
	free := holdAllHashSlots(a)
	defer free()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := a.Authenticate(short, "paul", "pw", peer1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("login after TTL: %v, want it to need a hash (DeadlineExceeded)", err)
	}
}

func TestRehashWithRaisedParams(t *testing.T) { onBoth(t, testRehashWithRaisedParams) }

func testRehashWithRaisedParams(t *testing.T) {
	dir := t.TempDir()
	old := openTest(t, dir, testOptions())
	if err := old.Add("quinn", "pw"); err != nil {
		t.Fatal(err)
	}
	raised := testOptions()
	raised.Hash.Time = 3
	raised.Hash.Memory = 128
	a := openTest(t, dir, raised)
	if err := a.Authenticate(ctx, "quinn", "pw", peer1); err != nil {
		t.Fatal(err)
	}
	rec, err := a.record(ctx, "quinn")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rec, "$argon2id$v=19$m=128,t=3,p=1$") {
		t.Errorf("record after login with raised parameters: %q", rec)
	}
	if err := old.Authenticate(ctx, "quinn", "pw", peer1); err != nil {
		t.Errorf("re-hashed record rejected by another handle: %v", err)
	}
}

func TestDamagedRecordIsOperationalError(t *testing.T) {
	onBoth(t, testDamagedRecordIsOperationalError)
}

func testDamagedRecordIsOperationalError(t *testing.T) {
	a := openTest(t, t.TempDir(), testOptions())
	if err := a.Add("rita", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := execRaw(a, `UPDATE accounts SET password_hash = 'garbage' WHERE name = 'rita'`); err != nil {
		t.Fatal(err)
	}
	err := a.Authenticate(ctx, "rita", "pw", peer1)
	if err == nil || errors.Is(err, ErrAuthFailed) || errors.Is(err, ErrThrottled) {
		t.Errorf("damaged record: %v, want an operational error", err)
	}
}

func TestConcurrentAccountsUse(t *testing.T) { onBoth(t, testConcurrentAccountsUse) }

func testConcurrentAccountsUse(t *testing.T) {
	opts := testOptions()
	opts.MaxFailuresPerIP = 1000
	opts.MaxFailuresPerUser = 1000
	a := openTest(t, t.TempDir(), opts)
	const users = 8
	for i := range users {
		if err := a.Add(fmt.Sprintf("u%d", i), "pw0"); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range users {
		name := fmt.Sprintf("u%d", i)
		wg.Go(func() { // changes the password, each new one valid at once
			for v := 1; v <= 5; v++ {
				pw := fmt.Sprintf("pw%d", v)
				if err := a.SetPassword(name, pw); err != nil {
					t.Error(err)
					return
				}
				if err := a.Authenticate(ctx, name, pw, peer1); err != nil {
					t.Errorf("%s with %s right after setting it: %v", name, pw, err)
				}
			}
		})
		wg.Go(func() { // logs in with whatever it guesses
			for range 20 {
				err := a.Authenticate(ctx, name, "pw0", peer2)
				if err != nil && !errors.Is(err, ErrAuthFailed) {
					t.Errorf("%s: %v", name, err)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 10 {
			n := fmt.Sprintf("extra%d", i)
			if err := a.Add(n, "x"); err != nil {
				t.Error(err)
			}
			if err := a.Delete(n); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	for i := range users {
		if err := a.Authenticate(ctx, fmt.Sprintf("u%d", i), "pw5", peer1); err != nil {
			t.Errorf("final password of u%d: %v", i, err)
		}
	}
	names, _ := a.List()
	if len(names) != users {
		t.Errorf("List has %d names, want %d: %v", len(names), users, names)
	}
}
