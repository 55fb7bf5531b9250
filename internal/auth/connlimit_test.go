package auth

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
)

func TestConnLimiterPerIP(t *testing.T) {
	l := NewConnLimiter(2, 0)
	r1, ok1 := l.AcquireIP(peer1)
	r2, ok2 := l.AcquireIP(netip.MustParseAddr("::ffff:192.0.2.1")) // same host, mapped
	if !ok1 || !ok2 {
		t.Fatal("first two connections refused")
	}
	if _, ok := l.AcquireIP(peer1); ok {
		t.Fatal("third connection from one address allowed")
	}
	if r, ok := l.AcquireIP(peer2); !ok {
		t.Fatal("other address refused")
	} else {
		r()
	}
	r1()
	r1() // a second release must not free another slot
	r3, ok := l.AcquireIP(peer1)
	if !ok {
		t.Fatal("slot not freed by release")
	}
	if _, ok := l.AcquireIP(peer1); ok {
		t.Fatal("double release freed two slots")
	}
	r2()
	r3()
	if ips, _ := l.counts(); ips != 0 {
		t.Errorf("%d addresses still tracked after all releases", ips)
	}
}

func TestConnLimiterIPv6Prefix(t *testing.T) {
	l := NewConnLimiter(1, 0)
	if _, ok := l.AcquireIP(netip.MustParseAddr("2001:db8::1")); !ok {
		t.Fatal("first refused")
	}
	if _, ok := l.AcquireIP(netip.MustParseAddr("2001:db8::2")); ok {
		t.Error("second address of the same /64 allowed")
	}
	if _, ok := l.AcquireIP(netip.MustParseAddr("2001:db8:0:1::1")); !ok {
		t.Error("other /64 refused")
	}
}

func TestConnLimiterLoopback(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	l := NewConnLimiter(1, 0)
	if _, ok := l.AcquireIP(lo); !ok {
		t.Fatal("first loopback refused")
	}
	if _, ok := l.AcquireIP(lo); ok {
		t.Error("loopback exempt without being configured so")
	}
	for range 3 {
		if _, ok := l.AcquireIP(netip.Addr{}); !ok {
			t.Fatal("connection without a network peer refused")
		}
	}
	l.SetLoopbackExempt(true)
	for range 5 {
		if _, ok := l.AcquireIP(netip.MustParseAddr("::1")); !ok {
			t.Fatal("exempt loopback refused")
		}
	}
	if _, ok := l.AcquireIP(peer1); !ok {
		t.Fatal("first non-loopback refused")
	}
	if _, ok := l.AcquireIP(peer1); ok {
		t.Error("exemption leaked to a non-loopback address")
	}
}

func TestConnLimiterPerUser(t *testing.T) {
	l := NewConnLimiter(0, 1)
	r, ok := l.AcquireUser("Sam")
	if !ok {
		t.Fatal("first session refused")
	}
	if _, ok := l.AcquireUser("sam"); ok {
		t.Error("second session of the same user (other case) allowed")
	}
	if _, ok := l.AcquireUser("tom"); !ok {
		t.Error("other user refused")
	}
	for range 3 { // per-IP unlimited
		if _, ok := l.AcquireIP(peer1); !ok {
			t.Fatal("unlimited per-IP refused")
		}
	}
	r()
	if _, ok := l.AcquireUser("sam"); !ok {
		t.Error("slot not freed")
	}
}

func TestConnLimiterConcurrent(t *testing.T) {
	const limit = 5
	l := NewConnLimiter(limit, limit)
	var held, maxHeld atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 200 {
				r1, ok := l.AcquireIP(peer1)
				if !ok {
					continue
				}
				r2, ok := l.AcquireUser("u")
				if ok {
					n := held.Add(1)
					for {
						m := maxHeld.Load()
						if n <= m || maxHeld.CompareAndSwap(m, n) {
							break
						}
					}
					held.Add(-1)
					r2()
				}
				r1()
			}
		})
	}
	wg.Wait()
	if m := maxHeld.Load(); m > limit || m == 0 {
		t.Errorf("up to %d held at once, want 1..%d", m, limit)
	}
	if ips, users := l.counts(); ips != 0 || users != 0 {
		t.Errorf("tracked after all releases: %d addresses, %d users", ips, users)
	}
}
