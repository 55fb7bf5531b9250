package server

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRateBucket: the bucket's arithmetic on a made-up clock: a burst
// passes at once, then each command waits 1/rate, time refills it, and it
// never holds more than the burst.
func TestRateBucket(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	b := newRateBucket(10, 3, t0)
	for i := range 3 {
		if d := b.take(t0); d != 0 {
			t.Fatalf("burst command %d waits %v", i, d)
		}
	}
	if d := b.take(t0); d != 100*time.Millisecond {
		t.Fatalf("fourth command waits %v, want 100ms", d)
	}
	if d := b.take(t0); d != 200*time.Millisecond {
		t.Fatalf("fifth command waits %v, want 200ms", d)
	}
	// An hour later the bucket holds the burst again, not 36,000.
	later := t0.Add(time.Hour)
	for i := range 3 {
		if d := b.take(later); d != 0 {
			t.Fatalf("after an hour, command %d waits %v", i, d)
		}
	}
	if d := b.take(later); d == 0 {
		t.Fatal("the bucket held more than its burst")
	}
}

// TestCommandRate: a client that pipelines 80 commands with a rate of 20
// a second and a burst of 5 gets them answered, all of them, in no less
// than (80-5)/20 s; another client of the same user, with its own bucket,
// is answered while the first is being held back.
func TestCommandRate(t *testing.T) {
	const rate, burst, n = 20, 5, 80
	env := newTestEnv(t, func(c *Config) { c.CommandRate = rate; c.CommandBurst = burst })
	hog := env.dial()
	hog.login() // one command of the burst
	other := env.dial()
	other.login()

	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "h%d NOOP\r\n", i)
	}
	start := time.Now()
	if _, err := hog.conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	hog.expect(`^h0 OK `)
	other.send("o NOOP")
	other.expect(`^o OK `)
	otherAt := time.Since(start)
	for i := 1; i < n; i++ {
		hog.expect(fmt.Sprintf(`^h%d OK `, i))
	}
	took := time.Since(start)
	min := time.Duration(n-burst) * time.Second / rate
	t.Logf("%d pipelined commands took %v (at least %v); the other client was answered after %v", n, took, min, otherAt)
	if took < min-50*time.Millisecond {
		t.Fatalf("%d commands answered in %v; the limit allows no less than %v", n, took, min)
	}
	if otherAt >= took {
		t.Fatalf("the other client waited for the first one's commands")
	}
}

// BenchmarkCommandRate measures what the limit costs a client under it:
// one NOOP round trip over a socket without a limit and with one it never
// reaches. The difference is the bucket's arithmetic and one clock read.
func BenchmarkCommandRate(b *testing.B) {
	for _, limited := range []bool{false, true} {
		name := "off"
		if limited {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			bs := newBenchServer(b)
			if limited {
				bs.srv.cfg.CommandRate = 1e9
			}
			c := bs.dial(b)
			for b.Loop() {
				c.run("n NOOP")
			}
		})
	}
}

// BenchmarkRateBucketTake is the limit's own cost per command.
func BenchmarkRateBucketTake(b *testing.B) {
	rb := newRateBucket(1e9, 2000, time.Now())
	for b.Loop() {
		rb.take(time.Now())
	}
}
