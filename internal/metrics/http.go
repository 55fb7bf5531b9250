package metrics

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HealthTimeout is how long /healthz waits for the store by default.
const HealthTimeout = 5 * time.Second

// Handler serves /metrics in the Prometheus formats and /healthz, which
// answers 200 "ok" when health returns nil within m.HealthTimeout and 503
// otherwise. The 503 body says only that the store did not answer; the
// error itself (which may name files of the data directory) goes to
// m.Logger, not to whoever can reach the endpoint.
func (m *Metrics) Handler(health func(ctx context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		timeout := m.HealthTimeout
		if timeout <= 0 {
			timeout = HealthTimeout
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		// The check runs on its own so that a store stuck past the
		// deadline, even one that ignores ctx, still gets a 503 in time.
		done := make(chan error, 1)
		go func() { done <- health(ctx) }()
		var err error
		select {
		case err = <-done:
		case <-ctx.Done():
			err = fmt.Errorf("no answer within %v: %w", timeout, ctx.Err())
		}
		if err != nil {
			if m.Logger != nil {
				m.Logger.Warn("health check failed", "err", err)
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("unhealthy: the store did not answer\n"))
			return
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}

// NewHTTPServer returns an HTTP server for Handler with timeouts suited to
// a scraper on a private network.
func (m *Metrics) NewHTTPServer(health func(ctx context.Context) error) *http.Server {
	return &http.Server{
		Handler:           m.Handler(health),
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}
