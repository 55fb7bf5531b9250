package loadtest

import (
	"context"
	"strconv"
)

// searchKeys are the string searches of the "search" scenario, on bench-N:
// words that appear in no message (every message must be ruled out: the
// worst case for a server that scans) and ones that do.
var searchKeys = []struct{ label, key string }{
	{"search.body-miss", `BODY "xylograph"`},
	{"search.text-miss", `TEXT "xylograph"`},
	{"search.body-hit", `BODY "benchmark"`},
	{"search.from", `FROM "someone"`},
	{"search.subject", `SUBJECT "report"`},
}

// runSearch times UID SEARCH RETURN (COUNT) of each search key on bench-N
// (COUNT, so the time is the search's, not the response's).
func runSearch(ctx context.Context, cfg Config, n int) ([]Result, error) {
	c, _, err := openBench(ctx, cfg, n)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var out []Result
	for _, k := range searchKeys {
		var s samples
		hits := -1
		for range cfg.Reps {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			d, b, err := timed(func() (Reply, error) {
				return c.Exec("UID SEARCH RETURN (COUNT) "+k.key, func(resp []byte) {
					if k, ok := parseSearchCount(resp); ok {
						hits = k
					}
				})
			})
			if err != nil {
				return nil, err
			}
			s.add(d, b)
		}
		r := withRate(s.result(k.label, n), float64(n), "msg/s")
		r.Note = k.key
		if hits >= 0 {
			r.Note += ", " + strconv.Itoa(hits) + " hits"
		}
		out = append(out, r)
	}
	return out, nil
}
