package wire

import (
	"strings"
	"time"
)

// Layouts of RFC 9051 9 date-time and date-text. The day of date-time is
// space-padded ("date-day-fixed"); clients also send it zero-padded or
// unpadded, which the parser accepts.
const (
	DateTimeLayout = "_2-Jan-2006 15:04:05 -0700"
	DateLayout     = "2-Jan-2006"
)

var months = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// DateTime reads a quoted date-time, as in APPEND's INTERNALDATE and the
// SEARCH date keys of some extensions.
func (d *Decoder) DateTime() (time.Time, error) {
	s, err := d.Quoted()
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(DateTimeLayout, normalizeMonth(strings.TrimLeft(s, " ")))
	if err != nil {
		return time.Time{}, syntaxErrorf("invalid date-time %q", s)
	}
	return t, nil
}

// Date reads a date (RFC 9051 9 date: date-text, optionally quoted).
func (d *Decoder) Date() (time.Time, error) {
	var s string
	var err error
	if c, perr := d.peek(); perr == nil && c == '"' {
		s, err = d.Quoted()
	} else {
		s, err = d.Atom()
	}
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(DateLayout, normalizeMonth(s))
	if err != nil {
		return time.Time{}, syntaxErrorf("invalid date %q", s)
	}
	return t, nil
}

// normalizeMonth makes the month name's case what time.Parse expects
// ("jAN" -> "Jan"); IMAP month names are case-insensitive.
func normalizeMonth(s string) string {
	i := strings.IndexByte(s, '-')
	if i < 0 || len(s) < i+4 {
		return s
	}
	m := strings.ToLower(s[i+1 : i+4])
	for _, name := range months {
		if m == name {
			return s[:i+1] + strings.ToUpper(m[:1]) + m[1:] + s[i+4:]
		}
	}
	return s
}
