package server

import "time"

// rateBucket is the command-rate limit of one connection (Config.CommandRate):
// a token bucket holding up to burst commands, refilled at rate per second.
// A command that finds it empty is delayed, never refused: the session
// stops reading until its turn, so a client that pipelines commands as fast
// as it can gets rate of them a second and cannot monopolise its user's
// store, while others are served in between. It belongs to the
// connection's goroutine.
type rateBucket struct {
	rate   float64 // tokens per second
	burst  float64
	tokens float64 // may go below zero: the debt a delayed command pays
	last   time.Time
}

func newRateBucket(rate float64, burst int, now time.Time) *rateBucket {
	if burst < 1 {
		burst = 1
	}
	return &rateBucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// take spends a token for a command starting at now and returns how long
// the command must wait for it (zero when the bucket was not empty).
func (b *rateBucket) take(now time.Time) time.Duration {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// waitForRate delays the command about to be read when the connection is
// over its command rate. It returns early when the server shuts down; the
// caller's check of closing then says BYE.
func (s *Session) waitForRate() {
	if s.rate == nil {
		return
	}
	d := s.rate.take(time.Now())
	if d <= 0 {
		return
	}
	if !s.rateLogged {
		s.rateLogged = true
		s.log.Info("command rate limit reached; commands delayed", "user", s.user, "rate", s.rate.rate)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.srv.done:
	}
}
