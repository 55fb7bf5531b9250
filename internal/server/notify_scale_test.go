package server

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Scale of NOTIFY, measured as TestIdleScale measures IDLE: N sessions
// with NOTIFY on (INBOX selected, MessageNew with UID FLAGS there; every
// other mailbox watched), in a client process of their own; one APPEND to
// INBOX and one to another mailbox; resident memory per connection, the
// time for each to reach every session, and the store queries each
// commit caused.

// notifyConnsEnv names how many connections TestNotifyScale opens (300 by
// default); notifyHelperEnv runs TestNotifyScaleClients as its client
// side, its value the server's address.
const (
	notifyConnsEnv  = "TIDEMARK_NOTIFY_CONNS"
	notifyHelperEnv = "TIDEMARK_NOTIFY_HELPER_ADDR"
)

// The shared NOTIFY state reads the mailbox list and subscriptions; count
// them with the other reads.
func (c *countingAccount) Mailboxes(ctx context.Context) ([]store.MailboxInfo, error) {
	c.n.Add(1)
	return c.Account.Mailboxes(ctx)
}

func (c *countingAccount) Subscriptions(ctx context.Context) ([]string, error) {
	c.n.Add(1)
	return c.Account.Subscriptions(ctx)
}

func TestNotifyScale(t *testing.T) {
	sc := startScale(t, notifyConnsEnv, notifyHelperEnv, "TestNotifyScaleClients", func(env *testEnv) {
		mbxCreate(t, env.account(), "Other", "Archive", "Lists/One", "Lists/Two")
	})
	env, cs, n := sc.env, sc.cs, sc.n

	c := env.dial()
	c.login()
	for _, target := range []string{"INBOX", "Other"} {
		queries := cs.queries.Load()
		msg := "Subject: fan-out\r\n\r\nwake up\r\n"
		start := time.Now()
		c.send(fmt.Sprintf("a APPEND %s {%d+}\r\n%s", target, len(msg), msg))
		c.expect(`^a OK `)
		lat := sc.arrivals(t, start)
		if len(lat) != n {
			t.Fatalf("%s: %d of %d sessions heard of the new message", target, len(lat), n)
		}
		fanout := cs.queries.Load() - queries
		pct := func(p int) time.Duration { return lat[(len(lat)-1)*p/100].Round(time.Microsecond) }
		t.Logf("APPEND to %s reaching all %d NOTIFY sessions: p50 %v, p99 %v, max %v; %d store queries for the commit (APPEND's own included)",
			target, n, pct(50), pct(99), pct(100), fanout)
		if fanout > 8 {
			t.Errorf("one APPEND to %s cost %d store queries with %d NOTIFY sessions", target, fanout, n)
		}
	}
	perConn := float64(sc.after-sc.before) / float64(n)
	t.Logf("%d NOTIFY connections: server resident %d -> %d KiB, %.1f KiB per connection", n, sc.before, sc.after, perConn)
	sc.finish(t)
}

// TestNotifyScaleClients is the client side of TestNotifyScale: N
// connections log in (every other one enabling IMAP4rev2), select INBOX,
// set NOTIFY, say READY; then for each of the two commits report when
// every connection heard of it ("ARRIVED t1 t2 ..."); then wait for
// standard input to close.
func TestNotifyScaleClients(t *testing.T) {
	addr := os.Getenv(notifyHelperEnv)
	if addr == "" {
		t.Skip("run by TestNotifyScale")
	}
	n, _ := strconv.Atoi(os.Getenv(notifyConnsEnv))
	conns, raw := scaleClients(t, addr, n,
		"s SELECT INBOX\r\nn NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge)) (personal (MessageNew MessageExpunge))\r\n", "n OK")
	for _, news := range []string{" EXISTS\r\n", "* STATUS Other "} {
		reportArrivals(t, conns, raw, func(l string) bool { return strings.HasSuffix(l, news) || strings.HasPrefix(l, news) })
	}
	closeOnStdin(raw)
}
