package loadtest

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// runConcurrent opens cfg.Concurrency sessions on the content mailbox, each
// looping SELECT, FETCH 1:* (UID FLAGS), NOOP until cfg.Duration has passed,
// and reports the commands completed per second over all sessions and the
// median/p90 time of one loop.
func runConcurrent(ctx context.Context, cfg Config, _ int) ([]Result, error) {
	k := cfg.Concurrency
	clients, err := openCorpusSessions(ctx, cfg, k, false)
	defer closeAll(clients)
	if err != nil {
		return nil, err
	}

	deadline := time.Now().Add(cfg.Duration)
	all, commands, elapsed, err := runSessions(clients, func(_ int, c *Client) (samples, int, error) {
		var mine samples
		cmds := 0
		var err error
		// Each session runs at least one loop, however late it starts.
		for first := true; ctx.Err() == nil && (first || time.Now().Before(deadline)); first = false {
			t := time.Now()
			var b int64
			for _, cmd := range []string{"SELECT " + quote(contentMailbox), "FETCH 1:* (UID FLAGS)", "NOOP"} {
				var rep Reply
				if rep, err = c.Exec(cmd, nil); err != nil {
					break
				}
				b += rep.Bytes
				cmds++
			}
			if err != nil {
				break
			}
			mine.add(time.Since(t), b)
		}
		return mine, cmds, err
	})
	if err != nil {
		return nil, err
	}
	r := all.result("concurrent", 0)
	r.Rate, r.RateUnit = float64(commands)/elapsed.Seconds(), "cmd/s"
	r.Note = fmt.Sprintf("%d sessions × %s, %d loops of SELECT+FETCH+NOOP on %d messages; times are per loop",
		k, cfg.Duration, len(all.d), len(cfg.Messages))
	return []Result{r}, nil
}

// openCorpusSessions populates the corpus mailbox and opens k sessions,
// each with the mailbox selected when sel is set: the start of the
// scenarios that load one mailbox from many sessions at once. It returns
// the sessions it opened even on error, for the caller to close.
func openCorpusSessions(ctx context.Context, cfg Config, k int, sel bool) ([]*Client, error) {
	setup, err := cfg.connect(ctx)
	if err != nil {
		return nil, err
	}
	_, _, err = Populate(ctx, setup, contentMailbox, len(cfg.Messages), cfg.Messages, cfg.PopulateBatch, false)
	setup.Close()
	if err != nil {
		return nil, fmt.Errorf("populate %s: %w", contentMailbox, err)
	}
	clients := make([]*Client, 0, k)
	for range k {
		c, err := cfg.connect(ctx)
		if err != nil {
			return clients, fmt.Errorf("session %d of %d: %w", len(clients)+1, k, err)
		}
		if sel {
			if _, _, err := selectMailbox(c, contentMailbox, ""); err != nil {
				c.Close()
				return clients, err
			}
		}
		clients = append(clients, c)
	}
	return clients, nil
}

func closeAll(clients []*Client) {
	for _, c := range clients {
		c.Close()
	}
}

// runSessions runs loop on every session at once, each returning its
// samples, a count of what it did and an error, and pools them: all the
// samples, the sum of the counts, the time from the start until the last
// loop ended, and the first error. The samples are pooled under a lock
// because the loops end at any time.
func runSessions(clients []*Client, loop func(i int, c *Client) (samples, int, error)) (samples, int, time.Duration, error) {
	var (
		mu       sync.Mutex
		all      samples
		count    int
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	for i, c := range clients {
		wg.Go(func() {
			mine, k, err := loop(i, c)
			mu.Lock()
			defer mu.Unlock()
			all.d = append(all.d, mine.d...)
			all.b = append(all.b, mine.b...)
			count += k
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	return all, count, time.Since(start), firstErr
}
