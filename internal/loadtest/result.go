package loadtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is one measured line: an operation at a mailbox size, summarized
// over its repetitions.
type Result struct {
	Scenario string        `json:"scenario"` // e.g. "select", "store.silent"
	Size     int           `json:"size"`     // messages in the mailbox, 0 when not sized
	Reps     int           `json:"reps"`     // repetitions timed
	Median   time.Duration `json:"median_ns"`
	P90      time.Duration `json:"p90_ns"`
	Bytes    int64         `json:"bytes"`               // response bytes of the median repetition
	Rate     float64       `json:"rate,omitempty"`      // throughput at the median, in RateUnit
	RateUnit string        `json:"rate_unit,omitempty"` // "msg/s", "MB/s", "cmd/s"
	Note     string        `json:"note,omitempty"`
	Err      string        `json:"error,omitempty"`
}

// samples collects the repetitions of one operation.
type samples struct {
	d []time.Duration
	b []int64
}

func (s *samples) add(d time.Duration, b int64) {
	s.d = append(s.d, d)
	s.b = append(s.b, b)
}

// result summarizes the samples: the median and 90th percentile (nearest
// rank) of the durations, and the bytes of the median repetition.
func (s *samples) result(name string, size int) Result {
	r := Result{Scenario: name, Size: size, Reps: len(s.d)}
	if len(s.d) == 0 {
		return r
	}
	idx := make([]int, len(s.d))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(s.d[a], s.d[b]) })
	mid := idx[(len(idx)-1)/2]
	r.Median = s.d[mid]
	r.Bytes = s.b[mid]
	r.P90 = s.d[idx[percentileRank(len(idx), 0.9)]]
	return r
}

// percentileRank is the nearest-rank index of percentile p among n sorted samples.
func percentileRank(n int, p float64) int {
	k := int(float64(n)*p+0.999999) - 1
	return min(max(k, 0), n-1)
}

// withRate sets Rate to units per second at the median duration.
func withRate(r Result, units float64, unit string) Result {
	if r.Median > 0 {
		r.Rate = units / r.Median.Seconds()
		r.RateUnit = unit
	}
	return r
}

// WriteTable prints results as an aligned text table.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tsize\treps\tmedian\tp90\tbytes\trate\t  note")
	for _, r := range results {
		rate := ""
		if r.RateUnit != "" {
			rate = fmt.Sprintf("%s %s", formatRate(r.Rate), r.RateUnit)
		}
		note := r.Note
		if r.Err != "" {
			note = strings.TrimSpace("ERROR " + r.Err + " " + note)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%d\t%s\t  %s\n", r.Scenario, r.Size, r.Reps,
			FormatDuration(r.Median), FormatDuration(r.P90), r.Bytes, rate, note)
	}
	return tw.Flush()
}

// WriteJSON writes results as an indented JSON array.
func WriteJSON(w io.Writer, results []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(results)
}

// FormatDuration prints a duration with three significant figures in a
// unit that suits it.
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// formatRate prints a rate with about three significant figures.
func formatRate(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
