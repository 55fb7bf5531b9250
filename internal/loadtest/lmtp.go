package loadtest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// lmtpMessage is what the lmtp scenario delivers: about 3 KB of text.
var lmtpMessage = "From: loadtest@localhost\r\nTo: bench@localhost\r\nSubject: lmtp bench\r\n" +
	"Message-ID: <lmtp-bench@localhost>\r\n\r\n" +
	strings.Repeat("The quick brown fox jumps over the lazy dog, again and again.\r\n", 48)

// runLMTP delivers lmtpMessage over LMTP from cfg.Concurrency clients, each
// on a connection of its own kept open, one message and one recipient per
// transaction, the recipients of cfg.LMTPRecipients in turn, for
// cfg.Duration: deliveries per second over all clients (each counted once
// the server answered 250 for it), and the median time of one delivery.
func runLMTP(ctx context.Context, cfg Config, _ int) ([]Result, error) {
	if cfg.LMTPAddr == "" || len(cfg.LMTPRecipients) == 0 {
		return nil, fmt.Errorf("the lmtp scenario needs an LMTP address and recipients")
	}
	addr, err := CheckLoopback(ctx, cfg.LMTPAddr)
	if err != nil {
		return nil, err
	}
	k := cfg.Concurrency
	clients := make([]*smtp.Client, 0, k)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range k {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("lmtp: %w", err)
		}
		c := smtp.NewClientLMTP(conn)
		if err := c.Hello("loadtest.localhost"); err != nil {
			c.Close()
			return nil, fmt.Errorf("lmtp: LHLO: %w", err)
		}
		clients = append(clients, c)
	}
	var (
		next  atomic.Int64
		mu    sync.Mutex
		all   samples
		wg    sync.WaitGroup
		first error
	)
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine samples
			var err error
			// Each client delivers at least once, however late it starts.
			for j := 0; ctx.Err() == nil && (j == 0 || time.Now().Before(deadline)); j++ {
				rcpt := cfg.LMTPRecipients[int(next.Add(1)-1)%len(cfg.LMTPRecipients)]
				t0 := time.Now()
				if err = c.SendMail("loadtest@localhost", []string{rcpt}, strings.NewReader(lmtpMessage)); err != nil {
					err = fmt.Errorf("lmtp: delivery to %s: %w", rcpt, err)
					break
				}
				mine.add(time.Since(t0), int64(len(lmtpMessage)))
			}
			mu.Lock()
			defer mu.Unlock()
			all.d = append(all.d, mine.d...)
			all.b = append(all.b, mine.b...)
			if err != nil && first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if first != nil {
		return nil, first
	}
	r := all.result("lmtp", 0)
	r.Rate, r.RateUnit = float64(len(all.d))/elapsed.Seconds(), "deliveries/s"
	r.Note = fmt.Sprintf("%d clients, %d recipients in turn, %d bytes each", k, len(cfg.LMTPRecipients), len(lmtpMessage))
	return []Result{r}, nil
}
