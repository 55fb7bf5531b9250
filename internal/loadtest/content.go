package loadtest

import (
	"context"
	"fmt"
)

// contentMailbox holds the corpus once, in order, for the content scenario.
const contentMailbox = "bench-content"

func runContent(ctx context.Context, cfg Config, _ int) ([]Result, error) {
	c, err := cfg.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	n := len(cfg.Messages)
	if _, _, err := Populate(ctx, c, contentMailbox, n, cfg.Messages, cfg.PopulateBatch, false); err != nil {
		return nil, fmt.Errorf("populate %s: %w", contentMailbox, err)
	}
	if _, _, err := selectMailbox(c, contentMailbox, ""); err != nil {
		return nil, err
	}
	type op struct {
		label, cmd string
		rate       string // "msg/s" or "MB/s"
	}
	ops := []op{
		{"fetch-envelope", "FETCH 1:* (ENVELOPE BODYSTRUCTURE)", "msg/s"},
		{"search-text", "SEARCH TEXT " + quote(cfg.SearchText), "msg/s"},
		{"search-subject", "SEARCH SUBJECT " + quote(cfg.SearchSubject), "msg/s"},
		// BODY.PEEK[] rather than BODY[]: the same bytes, but it does not
		// set \Seen, so every repetition does the same work.
		{"fetch-body", "FETCH 1:* BODY.PEEK[]", "MB/s"},
	}
	var out []Result
	for _, o := range ops {
		var s samples
		hits := 0
		for range cfg.Reps {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			d, b, err := timed(func() (Reply, error) {
				return c.Exec(o.cmd, func(resp []byte) {
					if k, ok := parseSearchCount(resp); ok {
						hits = k
					}
				})
			})
			if err != nil {
				return out, err
			}
			s.add(d, b)
		}
		r := s.result(o.label, n)
		if o.rate == "MB/s" {
			r = withRate(r, float64(r.Bytes)/1e6, "MB/s")
		} else {
			r = withRate(r, float64(n), "msg/s")
		}
		if o.label == "search-text" || o.label == "search-subject" {
			r.Note = fmt.Sprintf("%d hits", hits)
		}
		out = append(out, r)
	}
	return out, nil
}
