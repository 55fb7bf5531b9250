package loadtest

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// mailboxCount returns the MESSAGES count of mailbox, or -1 when the
// server says NO (the mailbox does not exist).
func mailboxCount(c *Client, mailbox string) (int, error) {
	count := -1
	_, err := c.Exec("STATUS "+quote(mailbox)+" (MESSAGES)", func(resp []byte) {
		if n, ok := parseStatusMessages(resp); ok {
			count = n
		}
	})
	var se *StatusError
	if errors.As(err, &se) && se.Reply.Status == "NO" {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	if count < 0 {
		return 0, fmt.Errorf("loadtest: STATUS %s: no MESSAGES in the answer", mailbox)
	}
	return count, nil
}

// Populate makes mailbox hold exactly n messages, cycling through msgs. A
// mailbox that already holds n is left alone; one holding fewer is topped
// up (so an interrupted populate resumes); one holding more, or any when
// fresh is set, is deleted and made again. It returns how many messages it
// appended and how long appending took.
func Populate(ctx context.Context, c *Client, mailbox string, n int, msgs [][]byte, batch int, fresh bool) (appended int, took time.Duration, err error) {
	return populate(ctx, c, mailbox, n, func(i int) []byte { return msgs[i%len(msgs)] }, batch, fresh)
}

// DistinctCopy returns the i-th copy of msg made unique: a header field
// in front and a line at the end, each naming i.
func DistinctCopy(msg []byte, i int) []byte {
	head := fmt.Sprintf("X-Load-Copy: %d\r\n", i)
	out := make([]byte, 0, len(head)+len(msg)+24)
	out = append(out, head...)
	out = append(out, msg...)
	if len(msg) > 0 && msg[len(msg)-1] != '\n' {
		out = append(out, "\r\n"...)
	}
	return fmt.Appendf(out, "copy %d\r\n", i)
}

// populate is Populate with message i given by msg(i).
func populate(ctx context.Context, c *Client, mailbox string, n int, msg func(i int) []byte, batch int, fresh bool) (appended int, took time.Duration, err error) {
	have, err := mailboxCount(c, mailbox)
	if err != nil {
		return 0, 0, err
	}
	if have >= 0 && (fresh || have > n) {
		if _, err := c.Exec("DELETE "+quote(mailbox), nil); err != nil {
			return 0, 0, err
		}
		have = -1
	}
	if have < 0 {
		if _, err := c.Exec("CREATE "+quote(mailbox), nil); err != nil {
			return 0, 0, err
		}
		have = 0
	}
	if batch <= 0 {
		batch = 500
	}
	if !c.Has("MULTIAPPEND") {
		batch = 1
	}
	start := time.Now()
	buf := make([][]byte, 0, batch)
	for i := have; i < n; {
		if err := ctx.Err(); err != nil {
			return i - have, time.Since(start), err
		}
		buf = buf[:0]
		for ; i < n && len(buf) < batch; i++ {
			buf = append(buf, msg(i))
		}
		if _, err := c.Append(mailbox, buf, nil); err != nil {
			return i - len(buf) - have, time.Since(start), err
		}
	}
	return n - have, time.Since(start), nil
}

// corpusMailbox returns the mailbox of n messages the scenarios use and
// its message i: bench-N, the corpus cycled, or with cfg.Distinct
// distinct-N, every copy made unique.
func corpusMailbox(cfg Config, n int) (string, func(i int) []byte) {
	if cfg.Distinct {
		return fmt.Sprintf("distinct-%d", n), func(i int) []byte { return DistinctCopy(cfg.Messages[i%len(cfg.Messages)], i) }
	}
	return benchMailbox(n), func(i int) []byte { return cfg.Messages[i%len(cfg.Messages)] }
}

// ensureMailbox populates the scenarios' mailbox of n messages
// (corpusMailbox; untimed, reusing it when it holds N) and returns its
// name.
func ensureMailbox(ctx context.Context, cfg Config, c *Client, n int) (string, error) {
	name, msg := corpusMailbox(cfg, n)
	added, took, err := populate(ctx, c, name, n, msg, cfg.PopulateBatch, false)
	if err != nil {
		return "", fmt.Errorf("populate %s: %w", name, err)
	}
	if added > 0 {
		cfg.Log("populated %s: %d messages in %s (%.0f msg/s)", name, added, took.Round(time.Millisecond), float64(added)/took.Seconds())
	}
	return name, nil
}

func runPopulate(ctx context.Context, cfg Config, n int) ([]Result, error) {
	c, err := cfg.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	name, msg := corpusMailbox(cfg, n)
	added, took, err := populate(ctx, c, name, n, msg, cfg.PopulateBatch, cfg.FreshPopulate)
	if err != nil {
		return nil, fmt.Errorf("populate %s: %w", name, err)
	}
	r := Result{Scenario: "populate", Size: n, Reps: 1, Median: took, P90: took}
	if added == 0 {
		r.Reps = 0
		r.Median, r.P90 = 0, 0
		r.Note = "reused: " + name + " already holds N"
		return []Result{r}, nil
	}
	r.Note = fmt.Sprintf("appended %d, MULTIAPPEND batches of %d", added, cfg.PopulateBatch)
	if c.Has("LITERAL+") {
		r.Note += ", LITERAL+"
	}
	r.Rate, r.RateUnit = float64(added)/took.Seconds(), "msg/s"
	return []Result{r}, nil
}
