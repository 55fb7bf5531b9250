package loadtest

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// selectMailbox runs SELECT (with optional parameters) and returns what the
// server said about the mailbox.
func selectMailbox(c *Client, mailbox, params string) (SelectInfo, Reply, error) {
	var si SelectInfo
	cmd := "SELECT " + quote(mailbox)
	if params != "" {
		cmd += " " + params
	}
	rep, err := c.Exec(cmd, si.Update)
	return si, rep, err
}

// timed runs op and returns its duration and response bytes.
func timed(op func() (Reply, error)) (time.Duration, int64, error) {
	start := time.Now()
	rep, err := op()
	return time.Since(start), rep.Bytes, err
}

// openBench opens a session with bench-n, populated if need be, selected:
// the start of every scenario that times commands on one mailbox. The
// caller closes the session.
func openBench(ctx context.Context, cfg Config, n int) (*Client, string, error) {
	c, err := cfg.connect(ctx)
	if err != nil {
		return nil, "", err
	}
	name, err := ensureMailbox(ctx, cfg, c, n)
	if err == nil {
		_, _, err = selectMailbox(c, name, "")
	}
	if err != nil {
		c.Close()
		return nil, "", err
	}
	return c, name, nil
}

// runSelect times SELECT two ways: "select" opens the mailbox on a new
// session each repetition (what a client sees when it connects; login is
// not timed), "select.again" re-opens it on one session after CLOSE, where a
// server may keep the mailbox's state warm.
func runSelect(ctx context.Context, cfg Config, n int) ([]Result, error) {
	c, err := cfg.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	name, err := ensureMailbox(ctx, cfg, c, n)
	if err != nil {
		return nil, err
	}
	var fresh, again samples
	for range cfg.Reps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s, err := cfg.connect(ctx)
		if err != nil {
			return nil, err
		}
		d, b, err := timed(func() (Reply, error) {
			_, rep, err := selectMailbox(s, name, "")
			return rep, err
		})
		s.Close()
		if err != nil {
			return nil, err
		}
		fresh.add(d, b)
	}
	if _, _, err := selectMailbox(c, name, ""); err != nil {
		return nil, err
	}
	for range cfg.Reps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// CLOSE expunges nothing: no bench message is left \Deleted.
		if _, err := c.Exec("CLOSE", nil); err != nil {
			return nil, err
		}
		d, b, err := timed(func() (Reply, error) {
			_, rep, err := selectMailbox(c, name, "")
			return rep, err
		})
		if err != nil {
			return nil, err
		}
		again.add(d, b)
	}
	return []Result{fresh.result("select", n), again.result("select.again", n)}, nil
}

func runFetchFlags(ctx context.Context, cfg Config, n int) ([]Result, error) {
	c, _, err := openBench(ctx, cfg, n)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var s samples
	for range cfg.Reps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, b, err := timed(func() (Reply, error) { return c.Exec("FETCH 1:* (UID FLAGS)", nil) })
		if err != nil {
			return nil, err
		}
		s.add(d, b)
	}
	r := withRate(s.result("fetch-flags", n), float64(n), "msg/s")
	return []Result{r}, nil
}

func runStore(ctx context.Context, cfg Config, n int) ([]Result, error) {
	c, _, err := openBench(ctx, cfg, n)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// Start from a known state: no message flagged.
	if _, err := c.Exec(`STORE 1:* -FLAGS.SILENT (\Flagged)`, nil); err != nil {
		return nil, err
	}
	var out []Result
	for _, silent := range []bool{false, true} {
		item, label := "FLAGS", "store"
		if silent {
			item, label = "FLAGS.SILENT", "store.silent"
		}
		var s samples
		// An even number of alternations, so each repetition changes every
		// message and the mailbox ends unflagged again.
		reps := cfg.Reps + cfg.Reps%2
		for i := range reps {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			sign := "+"
			if i%2 == 1 {
				sign = "-"
			}
			d, b, err := timed(func() (Reply, error) {
				return c.Exec("STORE 1:* "+sign+item+` (\Flagged)`, nil)
			})
			if err != nil {
				return out, err
			}
			s.add(d, b)
		}
		out = append(out, withRate(s.result(label, n), float64(n), "msg/s"))
	}
	return out, nil
}

// leave returns to the authenticated state without expunging: UNSELECT
// (RFC 3691) when the server has it, else CLOSE, which is equivalent here
// because the scenarios leave no message \Deleted.
func leave(c *Client) error {
	cmd := "CLOSE"
	if c.Has("UNSELECT") {
		cmd = "UNSELECT"
	}
	_, err := c.Exec(cmd, nil)
	return err
}

// runFetchRecent times FETCHes of message content from the end of
// bench-N, where a client looking at its newest mail reads: the last 200
// messages' BODYSTRUCTURE, the last 200 ENVELOPEs, and the last 50 whole
// messages (BODY.PEEK[], so every repetition is the same work); then, where
// the server has BINARY (RFC 3516), the last 50 again as BINARY.PEEK[] and
// their first parts decoded (BINARY.PEEK[1]).
func runFetchRecent(ctx context.Context, cfg Config, n int) ([]Result, error) {
	c, _, err := openBench(ctx, cfg, n)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var out []Result
	for _, f := range []struct {
		label string
		last  int
		items string
	}{
		{"fetch-recent.bodystructure", 200, "(BODYSTRUCTURE)"},
		{"fetch-recent.envelope", 200, "(ENVELOPE)"},
		{"fetch-recent.body", 50, "BODY.PEEK[]"},
		{"fetch-recent.binary", 50, "BINARY.PEEK[]"},
		{"fetch-recent.binary1", 50, "BINARY.PEEK[1]"},
	} {
		if strings.HasPrefix(f.items, "BINARY") && !c.Has("BINARY") {
			continue
		}
		var s samples
		for range cfg.Reps {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			d, b, err := timed(func() (Reply, error) {
				return c.Exec(fmt.Sprintf("FETCH %d:* %s", max(1, n-f.last+1), f.items), nil)
			})
			if err != nil {
				return out, err
			}
			s.add(d, b)
		}
		out = append(out, withRate(s.result(f.label, n), float64(min(n, f.last)), "msg/s"))
	}
	return out, nil
}
