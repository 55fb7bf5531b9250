package loadtest

import (
	"bytes"
	"context"
	"fmt"
)

// runSort times SORT (DATE) and THREAD REFERENCES over the whole of
// bench-N on one session: the first request of the run (".first", one
// sample: for Tidemark the first since the server started, before any key
// is cached; for Dovecot the first since its index was last written, so a
// reused mailbox may already have the sort fields cached) and then the
// same request again, unchanged mailbox, cfg.Reps times. Each answer must
// name N messages.
func runSort(ctx context.Context, cfg Config, n int) ([]Result, error) {
	c, _, err := openBench(ctx, cfg, n)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var out []Result
	for _, op := range []struct{ label, cmd, resp, capa string }{
		{"sort-date", "SORT (DATE) UTF-8 ALL", "* SORT", "SORT"},
		{"thread-refs", "THREAD REFERENCES UTF-8 ALL", "* THREAD", "THREAD=REFERENCES"},
	} {
		if !c.Has(op.capa) {
			out = append(out, Result{Scenario: op.label, Size: n, Note: "not offered: no " + op.capa})
			continue
		}
		var first, again samples
		for i := 0; i <= cfg.Reps; i++ {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			count := -1
			d, b, err := timed(func() (Reply, error) {
				return c.Exec(op.cmd, func(resp []byte) {
					if bytes.HasPrefix(resp, []byte(op.resp)) {
						count = countNumbers(resp[len(op.resp):])
					}
				})
			})
			if err != nil {
				return out, err
			}
			if count != n {
				return out, fmt.Errorf("%s: answer names %d messages, want %d", op.cmd, count, n)
			}
			if i == 0 {
				first.add(d, b)
			} else {
				again.add(d, b)
			}
		}
		out = append(out, first.result(op.label+".first", n), again.result(op.label, n))
	}
	return out, nil
}

// countNumbers counts the numbers in a SORT or THREAD response's data.
func countNumbers(b []byte) int {
	n, in := 0, false
	for _, c := range b {
		digit := c >= '0' && c <= '9'
		if digit && !in {
			n++
		}
		in = digit
	}
	return n
}
