package metrics

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// serveHealth serves m's handler on loopback with health and returns the
// base URL.
func serveHealth(t *testing.T, m *Metrics, health func(context.Context) error) string {
	t.Helper()
	hs := m.NewHTTPServer(health)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	return "http://" + l.Addr().String()
}

// /healthz asks the store a real question: a user database that cannot be
// read makes it 503, although the data directory still lists the user,
// and the answer names no file of the data directory (the reason goes to
// the log).
func TestHealthzQueriesTheStore(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	raw, err := sqlitestore.Open(dir, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.CreateUser(ctx, "joe"); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	m := New()
	m.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	st := m.WrapStore(raw)
	base := serveHealth(t, m, st.(store.Pinger).Ping)
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthy store: %d %q", code, body)
	}
	raw.Close()

	// The user's database is now garbage; the directory is still there.
	db := filepath.Join(dir, "users", "joe", "meta.db")
	for _, f := range []string{db + "-wal", db + "-shm"} {
		os.Remove(f)
	}
	if err := os.WriteFile(db, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err = sqlitestore.Open(dir, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if users, err := raw.Users(ctx); err != nil || len(users) != 1 {
		t.Fatalf("the listing alone still looks healthy: %v %v", users, err)
	}
	m2 := New()
	m2.Logger = m.Logger
	base = serveHealth(t, m2, m2.WrapStore(raw).(store.Pinger).Ping)
	code, body := get(t, base+"/healthz")
	if code != 503 {
		t.Fatalf("unreadable user database: %d %q", code, body)
	}
	if strings.Contains(body, dir) || strings.Contains(body, "meta.db") || strings.Contains(body, "/") {
		t.Fatalf("503 body shows a path: %q", body)
	}
	if !strings.Contains(logged.String(), "health check failed") {
		t.Fatalf("the reason was not logged: %q", logged.String())
	}

	// A failed open counts as a store error; an unknown user does not.
	before := scrape(t, base)[`tidemark_store_call_errors_total{op="open"}`]
	if _, err := m2.WrapStore(raw).Open(ctx, "joe"); err == nil {
		t.Fatal("opening a garbage database worked")
	}
	if _, err := m2.WrapStore(raw).Open(ctx, "nobody"); err == nil {
		t.Fatal("opening an unknown user worked")
	}
	if got := scrape(t, base)[`tidemark_store_call_errors_total{op="open"}`] - before; got != 1 {
		t.Fatalf("open errors moved by %v, want 1", got)
	}
}

// A store that does not answer in time gets a 503 at the deadline, even
// one that ignores its context.
func TestHealthzDeadline(t *testing.T) {
	m := New()
	m.HealthTimeout = 50 * time.Millisecond
	stuck := make(chan struct{})
	defer close(stuck)
	base := serveHealth(t, m, func(context.Context) error { <-stuck; return nil })
	if code, body := get(t, base+"/healthz"); code != 503 || body != "unhealthy: the store did not answer\n" {
		t.Fatalf("stuck store: %d %q", code, body)
	}
}
