package server

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// What a client sends before it has logged in is written to the log only
// clipped and at a bounded rate: anyone who can connect can otherwise make
// the log grow faster than they send (control bytes escaped several times
// over), or drown real events.

// maxLogText is how much of one client-supplied string a log line keeps.
const maxLogText = 128

// clip returns s cut to maxLogText bytes with control bytes and invalid
// UTF-8 replaced by '?', noting the original length when it was cut.
func clip(s string) string {
	cut := len(s) > maxLogText
	if cut {
		s = s[:maxLogText]
	}
	b := make([]byte, 0, len(s)+24)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			if i+n == len(s) && cut && !utf8.FullRuneInString(s[i:]) {
				n = len(s) - i // a rune split by the cut
			} else {
				b = append(b, '?')
			}
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			b = append(b, '?')
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	if cut {
		b = append(b, "..."...)
	}
	return string(b)
}

// clipLen is clip with the original length appended when it was cut.
func clipLen(s string) string {
	if len(s) <= maxLogText {
		return clip(s)
	}
	return clip(s) + "(" + strconv.Itoa(len(s)) + " bytes)"
}

// logBucket rate-limits the log lines caused by unauthenticated clients,
// server-wide: burst lines at once, then rate per second. Lines over the
// limit are dropped and counted; the next line let through is preceded by
// one that says how many were dropped.
type logBucket struct {
	rate  float64
	burst float64

	mu         sync.Mutex
	tokens     float64   // guarded by mu
	last       time.Time // guarded by mu
	suppressed int       // guarded by mu
}

// Defaults of the unauthenticated log rate.
const (
	preAuthLogRate  = 20
	preAuthLogBurst = 200
)

func newLogBucket(rate, burst float64) *logBucket {
	return &logBucket{rate: rate, burst: burst, tokens: burst}
}

// take reports whether a line may be written now, and how many lines were
// dropped since the last one that was.
func (b *logBucket) take(now time.Time) (ok bool, dropped int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		b.suppressed++
		return false, 0
	}
	b.tokens--
	dropped, b.suppressed = b.suppressed, 0
	return true, dropped
}

// logClient writes a log line caused by a client. Until it has logged in
// it goes through the server's rate limit (connections and commands of
// anyone who can connect); after login the user is known and accountable,
// and the line is written as is.
func (s *Session) logClient(level slog.Level, msg string, args ...any) {
	if s.user == "" {
		ok, dropped := s.srv.preAuthLog.take(time.Now())
		if !ok {
			return
		}
		if dropped > 0 {
			s.srv.log.Warn("log lines from unauthenticated clients suppressed", "count", dropped)
		}
	}
	s.log.Log(context.Background(), level, msg, args...)
}
