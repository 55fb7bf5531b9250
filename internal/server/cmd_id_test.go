package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func loggedEnv(t *testing.T) (*testEnv, *syncBuffer) {
	buf := &syncBuffer{}
	env := newTestEnv(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(buf, nil))
	})
	return env, buf
}

// sendLiteral sends a synchronizing literal and waits for its continuation.
func (c *client) sendLiteral(prefix string, data string, rest string) {
	c.t.Helper()
	c.send(fmt.Sprintf("%s{%d}", prefix, len(data)))
	c.expect(`^\+ `)
	c.conn.Write([]byte(data))
	c.send(rest)
}

// TestLogFloodBeforeLogin: ID with 30 pairs of 32 KB values full of
// control bytes, repeated, and a failed LOGIN with a 64 KiB name used to
// put megabytes in the log per command. Now each string is clipped and ID
// is logged once per connection.
func TestLogFloodBeforeLogin(t *testing.T) {
	env, logs := loggedEnv(t)
	c := env.dial()
	// 30 values of 32 KB: as much as the literals of one command may hold.
	big := strings.Repeat("\x01\x1b[2J", 32000/5)
	sent := 0
	for round := range 3 {
		tag := fmt.Sprintf("i%d", round)
		prefix := tag + " ID ("
		for i := range 30 {
			if i > 0 {
				prefix = " "
			}
			c.conn.Write([]byte(fmt.Sprintf(`%s"k%d" {%d}`+"\r\n", prefix, i, len(big))))
			c.expect(`^\+ `)
			c.conn.Write([]byte(big))
			sent += len(big)
		}
		c.send(")")
		c.until(tag + " OK")
	}
	c.sendLiteral("l LOGIN ", big, " password")
	c.until("l NO")
	sent += len(big)
	if n := len(logs.String()); n > 16<<10 {
		t.Errorf("%d bytes sent gave %d bytes of log", sent, n)
	}
	if strings.Count(logs.String(), `"client id"`) != 1 {
		t.Errorf("ID logged %d times", strings.Count(logs.String(), `"client id"`))
	}
	if strings.Contains(logs.String(), `\u001b`) || strings.Contains(logs.String(), `\u0001`) {
		t.Error("control bytes reached the log")
	}
}

// TestLogRateBeforeLogin: failed logins from unauthenticated clients are
// logged at a bounded rate, server-wide, and what was dropped is counted.
func TestLogRateBeforeLogin(t *testing.T) {
	env, logs := loggedEnv(t)
	start := time.Now()
	const conns, perConn = 10, 15
	for range conns {
		c := env.dial()
		for i := range perConn {
			c.send(fmt.Sprintf("a%d LOGIN nobody%d wrong", i, i))
			c.until(fmt.Sprintf("a%d NO", i))
		}
		c.send("z LOGOUT")
		c.until("z OK")
	}
	// One more, once the rate has let a line through again, reports what
	// was dropped.
	time.Sleep(200 * time.Millisecond)
	c := env.dial()
	c.send("b LOGIN nobody wrong")
	c.until("b NO")
	elapsed := time.Since(start)
	caused := 0
	suppressed := 0
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		switch rec["msg"] {
		case "login failed", "login throttled", "command failed":
			caused++
		case "log lines from unauthenticated clients suppressed":
			suppressed += int(rec["count"].(float64))
		}
	}
	limit := preAuthLogBurst + int(elapsed.Seconds()*preAuthLogRate) + 1
	if caused > limit {
		t.Errorf("%d log lines from %d failed logins in %v; limit %d", caused, conns*perConn, elapsed, limit)
	}
	if suppressed == 0 || caused+suppressed < 2*conns*perConn {
		t.Errorf("%d lines logged, %d counted as suppressed, for %d failed logins", caused, suppressed, conns*perConn)
	}
}

func TestClip(t *testing.T) {
	cases := map[string]string{
		"plain":                        "plain",
		"a\x00b\nc\x7f":                "a?b?c?",
		"caf\xc3\xa9 \xff":             "café ?",
		strings.Repeat("x", 200):       strings.Repeat("x", maxLogText) + "...",
		strings.Repeat("é", 100):       strings.Repeat("é", maxLogText/2) + "...",
		"x" + strings.Repeat("é", 100): "x" + strings.Repeat("é", (maxLogText-1)/2) + "...",
	}
	for in, want := range cases {
		if got := clip(in); got != want {
			t.Errorf("clip(%q) = %q, want %q", in, got, want)
		}
	}
}
