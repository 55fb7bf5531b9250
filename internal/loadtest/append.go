package loadtest

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// appendMailbox is where the append scenario writes; it is emptied before
// and deleted after the scenario.
const appendMailbox = "bench-append"

func runAppend(ctx context.Context, cfg Config, _ int) ([]Result, error) {
	c, err := cfg.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := recreate(c, appendMailbox); err != nil {
		return nil, err
	}
	defer c.Exec("DELETE "+quote(appendMailbox), nil)

	count := cfg.AppendCount
	var out []Result
	for _, batch := range []int{1, 100} {
		if batch > 1 && !c.Has("MULTIAPPEND") {
			out = append(out, Result{Scenario: "append.multi100", Err: "server lacks MULTIAPPEND"})
			continue
		}
		var s samples
		next := 0
		for range cfg.Reps {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			start := time.Now()
			var bytes int64
			for sent := 0; sent < count; {
				k := min(batch, count-sent)
				msgs := make([][]byte, k)
				for i := range msgs {
					msgs[i] = cfg.Messages[next%len(cfg.Messages)]
					next++
				}
				rep, err := c.Append(appendMailbox, msgs, nil)
				if err != nil {
					return out, err
				}
				bytes += rep.Bytes
				sent += k
			}
			s.add(time.Since(start), bytes)
		}
		label := "append.single"
		if batch > 1 {
			label = fmt.Sprintf("append.multi%d", batch)
		}
		r := withRate(s.result(label, 0), float64(count), "msg/s")
		r.Note = fmt.Sprintf("%d messages per repetition", count)
		out = append(out, r)
	}
	return out, nil
}

// recreate deletes mailbox if it exists and creates it empty.
func recreate(c *Client, mailbox string) error {
	_, err := c.Exec("DELETE "+quote(mailbox), nil)
	var se *StatusError
	if err != nil && !(errors.As(err, &se) && se.Reply.Status == "NO") {
		return err
	}
	_, err = c.Exec("CREATE "+quote(mailbox), nil)
	return err
}
