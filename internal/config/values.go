package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Size is a number of bytes. In the file it is an integer (bytes) or a
// string with a binary unit: "512KiB", "64MiB", "2GiB", "1TiB".
type Size int64

// Duration is a time span. In the file it is a string in Go's syntax
// ("90s", "15m", "36h") or a number of days ("30d").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// valueParser is implemented by the leaf types that accept more than one
// TOML type.
type valueParser interface {
	parseValue(v any) error
}

var sizeUnits = []struct {
	suffix string
	shift  uint
}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}

func (s *Size) parseValue(v any) error {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return errors.New("must not be negative")
		}
		*s = Size(v)
		return nil
	case string:
		n, err := ParseSize(v)
		if err != nil {
			return err
		}
		*s = n
		return nil
	}
	return fmt.Errorf("want a size (bytes, or a string like \"64MiB\"), got %s", typeName(v))
}

// ParseSize reads "1234", "64MiB" and the like.
func ParseSize(text string) (Size, error) {
	t := strings.TrimSpace(text)
	shift := uint(0)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, shift = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("invalid size %q (want bytes, or a number with KiB, MiB, GiB or TiB)", text)
	}
	return Size(n << shift), nil
}

func (d *Duration) parseValue(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("want a duration string like \"15m\", got %s", typeName(v))
	}
	n, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(n)
	return nil
}

// ParseDuration reads Go durations ("90s", "36h") and days ("30d").
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 || n > 100*365 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q (want e.g. \"90s\", \"15m\", \"36h\", \"30d\")", s)
	}
	return d, nil
}

func (r *Retention) parseValue(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("want \"forever\" or a duration string, got %s", typeName(v))
	}
	if strings.EqualFold(s, "forever") {
		*r = Retention{Forever: true}
		return nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return err
	}
	if d < time.Hour {
		return fmt.Errorf("retention %q is shorter than an hour", s)
	}
	*r = Retention{Age: d}
	return nil
}

// String gives the retention as the file would say it.
func (r Retention) String() string {
	if r.Forever {
		return "forever"
	}
	return r.Age.String()
}

// typeName names a decoded TOML value's type for error messages.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date"
	}
	return fmt.Sprintf("%T", v)
}
