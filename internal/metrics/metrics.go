// Package metrics exposes what a running Tidemark does as Prometheus
// metrics, and a health check, on their own HTTP listener.
//
// # Model
//
// A Metrics value owns a private registry (never the global one, so two
// servers in one test process do not collide). It is fed from three
// places, none of which imports Prometheus:
//
//   - the IMAP server, through the server.Observer interface that *Metrics
//     implements: connections, commands by name and result with their
//     latency, failed logins, bytes on the wire;
//   - LMTP, through the lmtp.Config.OnDelivery hook (ObserveDelivery):
//     deliveries by result and their latency;
//   - the store, through WrapStore, a store.Store that times every
//     Account call by operation before handing it to the real store.
//
// Label values are bounded: command names come from the command table
// (unknown commands are "UNKNOWN"), results and operations from fixed
// lists.
package metrics

import (
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tidemark-mail/tidemark/internal/lmtp"
	"github.com/tidemark-mail/tidemark/internal/server"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// Metrics holds the collectors of one server.
type Metrics struct {
	// HealthTimeout bounds /healthz's wait for the store (HealthTimeout
	// when zero); Logger receives the reasons of failed health checks.
	// Set before serving.
	HealthTimeout time.Duration
	Logger        *slog.Logger

	reg *prometheus.Registry

	connsOpen        prometheus.Gauge
	connsTotal       *prometheus.CounterVec // tls
	commands         *prometheus.CounterVec // command, status
	commandSeconds   *prometheus.HistogramVec
	authFailures     *prometheus.CounterVec // reason
	bytesRead        prometheus.Counter
	bytesWritten     prometheus.Counter
	deliveries       *prometheus.CounterVec // result
	deliverySeconds  prometheus.Histogram
	storeSeconds     *prometheus.HistogramVec // op
	storeErrors      *prometheus.CounterVec   // op
	retentionPrunes  prometheus.Counter
	retentionSeconds prometheus.Histogram
}

var _ server.Observer = (*Metrics)(nil)

// latencyBuckets run from 100µs to 10s: a cached FETCH answers in well
// under a millisecond, a large APPEND or a cold SELECT in seconds.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New makes the collectors, registered with a new registry together with
// the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		connsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tidemark_imap_connections", Help: "IMAP connections open now."}),
		connsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_imap_connections_total", Help: "IMAP connections accepted, by implicit TLS or not."}, []string{"tls"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_imap_commands_total", Help: "IMAP commands answered, by command and tagged status."}, []string{"command", "status"}),
		commandSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tidemark_imap_command_duration_seconds", Help: "Time from a command's first byte to its tagged response.",
			Buckets: latencyBuckets}, []string{"command"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_imap_auth_failures_total", Help: "Refused logins, by reason (invalid, throttled)."}, []string{"reason"}),
		bytesRead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_imap_read_bytes_total", Help: "Bytes read from IMAP connections."}),
		bytesWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_imap_written_bytes_total", Help: "Bytes written to IMAP connections."}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_lmtp_deliveries_total", Help: "LMTP deliveries per recipient, by result."}, []string{"result"}),
		deliverySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tidemark_lmtp_delivery_duration_seconds", Help: "Time to store one recipient's copy.", Buckets: latencyBuckets}),
		storeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tidemark_store_call_duration_seconds", Help: "Store calls, by operation.", Buckets: latencyBuckets}, []string{"op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_store_call_errors_total", Help: "Store calls that failed, by operation."}, []string{"op"}),
		retentionPrunes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_tombstone_prunes_total", Help: "Mailboxes whose tombstones the retention loop pruned."}),
		retentionSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tidemark_tombstone_retention_pass_seconds", Help: "Duration of a retention pass over every user.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
	}
	m.reg.MustRegister(m.connsOpen, m.connsTotal, m.commands, m.commandSeconds, m.authFailures,
		m.bytesRead, m.bytesWritten, m.deliveries, m.deliverySeconds, m.storeSeconds, m.storeErrors,
		m.retentionPrunes, m.retentionSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the collectors are registered.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ConnectionOpened implements server.Observer.
func (m *Metrics) ConnectionOpened(implicitTLS bool) {
	m.connsOpen.Inc()
	if implicitTLS {
		m.connsTotal.WithLabelValues("true").Inc()
	} else {
		m.connsTotal.WithLabelValues("false").Inc()
	}
}

// ConnectionClosed implements server.Observer.
func (m *Metrics) ConnectionClosed(time.Duration) { m.connsOpen.Dec() }

// CommandDone implements server.Observer.
func (m *Metrics) CommandDone(name, status string, d time.Duration) {
	m.commands.WithLabelValues(name, status).Inc()
	m.commandSeconds.WithLabelValues(name).Observe(d.Seconds())
}

// AuthFailed implements server.Observer.
func (m *Metrics) AuthFailed(throttled bool) {
	if throttled {
		m.authFailures.WithLabelValues("throttled").Inc()
	} else {
		m.authFailures.WithLabelValues("invalid").Inc()
	}
}

// BytesRead implements server.Observer.
func (m *Metrics) BytesRead(n int) { m.bytesRead.Add(float64(n)) }

// BytesWritten implements server.Observer.
func (m *Metrics) BytesWritten(n int) { m.bytesWritten.Add(float64(n)) }

// ObserveDelivery is an lmtp.Config.OnDelivery hook.
func (m *Metrics) ObserveDelivery(d lmtp.Delivery) {
	m.deliveries.WithLabelValues(deliveryResult(d.Err)).Inc()
	m.deliverySeconds.Observe(d.Duration.Seconds())
}

// ObserveRetentionPass records one pass of the tombstone retention loop.
func (m *Metrics) ObserveRetentionPass(pruned int, d time.Duration) {
	m.retentionPrunes.Add(float64(pruned))
	m.retentionSeconds.Observe(d.Seconds())
}

func deliveryResult(err error) string {
	switch {
	case err == nil:
		return "delivered"
	case errors.Is(err, store.ErrOverQuota):
		return "over_quota"
	case errors.Is(err, store.ErrTooBig):
		return "too_big"
	case errors.Is(err, store.ErrNoUser):
		return "no_user"
	}
	return "failed"
}
