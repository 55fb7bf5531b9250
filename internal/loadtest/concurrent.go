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
	setup, err := cfg.connect(ctx)
	if err != nil {
		return nil, err
	}
	_, _, err = Populate(ctx, setup, contentMailbox, len(cfg.Messages), cfg.Messages, cfg.PopulateBatch, false)
	setup.Close()
	if err != nil {
		return nil, fmt.Errorf("populate %s: %w", contentMailbox, err)
	}

	k := cfg.Concurrency
	clients := make([]*Client, 0, k)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range k {
		c, err := cfg.connect(ctx)
		if err != nil {
			return nil, fmt.Errorf("session %d of %d: %w", len(clients)+1, k, err)
		}
		clients = append(clients, c)
	}

	var (
		mu       sync.Mutex
		all      samples
		commands int
		firstErr error
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(cfg.Duration)
	start := time.Now()
	for _, c := range clients {
		wg.Go(func() {
			var mine samples
			cmds := 0
			var err error
			for time.Now().Before(deadline) && ctx.Err() == nil {
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
			mu.Lock()
			defer mu.Unlock()
			all.d = append(all.d, mine.d...)
			all.b = append(all.b, mine.b...)
			commands += cmds
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return nil, firstErr
	}
	r := all.result("concurrent", 0)
	r.Rate, r.RateUnit = float64(commands)/elapsed.Seconds(), "cmd/s"
	r.Note = fmt.Sprintf("%d sessions × %s, %d loops of SELECT+FETCH+NOOP on %d messages; times are per loop",
		k, cfg.Duration, len(all.d), len(cfg.Messages))
	return []Result{r}, nil
}
