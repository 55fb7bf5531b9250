package server

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// fakedDay is the instant the date tests are run again at: a one-digit
// day on both sides of the date line (5 March 01:45 in Pacific/Chatham,
// +1345 in daylight time; 4 March 08:30 in America/St_Johns, -0330).
const fakedDay = "2026-03-04T12:00:00Z"

// TestDatesOnFakedDay runs the tests that format or compare dates again in
// child processes whose clock is fixed on a one-digit day and whose local
// time zone is one with a 45- or 30-minute offset, so that a test relying
// on today's date, on two-digit days or on UTC would fail here on every
// day of the month, not only on the 1st to the 9th.
func TestDatesOnFakedDay(t *testing.T) {
	if os.Getenv(testNowEnv) != "" {
		t.Skip("already running on a faked day")
	}
	if testing.Short() {
		t.Skip("runs child test processes")
	}
	for _, tz := range []string{"Pacific/Chatham", "America/St_Johns"} {
		if _, err := time.LoadLocation(tz); err != nil {
			t.Skipf("time zone %s is not installed: %v", tz, err)
		}
		cmd := exec.Command(os.Args[0], "-test.count=1",
			"-test.run=^(TestDateFormats|TestFetch|TestSearch|TestAppend|TestStatus)")
		cmd.Env = append(os.Environ(), "TZ="+tz, testNowEnv+"="+fakedDay)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("TZ=%s %s=%s: %v\n%s", tz, testNowEnv, fakedDay, err, out)
		}
	}
}

// imapDate writes t as RFC 9051 date-time, from its fields rather than
// through the server's encoder: date-day-fixed is a space and one digit
// below the 10th.
func imapDate(t time.Time) string {
	_, off := t.Zone()
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("%2d-%s-%04d %02d:%02d:%02d %c%02d%02d", t.Day(), t.Month().String()[:3], t.Year(),
		t.Hour(), t.Minute(), t.Second(), sign, off/3600, off%3600/60)
}

// imapDay writes t's calendar day as a search date (date-day, no padding).
func imapDay(t time.Time) string {
	return fmt.Sprintf("%d-%s-%04d", t.Day(), t.Month().String()[:3], t.Year())
}

// TestDateFormats runs the paths that write or compare dates against the
// test clock: APPEND with and without a date, INTERNALDATE, SAVEDATE,
// SEARCH ON/SINCE/BEFORE, SENTON/SENTBEFORE, SAVEDON, OLDER/YOUNGER. Run
// alone it uses the faked day in the process's own zone; TestDatesOnFakedDay
// runs it under other zones.
func TestDateFormats(t *testing.T) {
	if os.Getenv(testNowEnv) == "" {
		t.Setenv(testNowEnv, fakedDay)
	}
	now := testNow()
	env := newTestEnv(t, nil)
	c := env.dial()
	c.login()

	// Message 1: APPEND with a date late on a one-digit day in a zone west
	// of UTC, so that its UTC day is the next one; 9 hours before the clock.
	const given = " 3-Mar-2026 23:30:00 -0330"
	m1 := "From: a@example.org\r\nDate: Tue, 3 Mar 2026 23:30:00 -0330\r\nSubject: one\r\n\r\nHello\r\n"
	c.sendRaw(`a APPEND INBOX "` + given + `" ` + literal("+", m1) + "\r\n")
	c.expect(`^a OK \[APPENDUID \d+ 1\] APPEND completed$`)
	// Message 2: APPEND without a date gets the clock's instant.
	c.sendRaw(`b APPEND INBOX ` + literal("+", testMessage("two")) + "\r\n")
	c.expect(`^b OK \[APPENDUID \d+ 2\] APPEND completed$`)
	c.send("s SELECT INBOX")
	c.until("s OK")

	stamp := imapDate(now)
	check(t, c.exchange("f", "FETCH 1:2 (INTERNALDATE SAVEDATE)"),
		`* 1 FETCH (INTERNALDATE "`+given+`" SAVEDATE "`+stamp+`")`,
		`* 2 FETCH (INTERNALDATE "`+stamp+`" SAVEDATE "`+stamp+`")`,
		`f OK FETCH completed`)
	if now.Day() > 9 || !strings.HasPrefix(stamp, " ") {
		t.Errorf("the clock is not on a one-digit day: %q", stamp)
	}

	today, tomorrow := imapDay(now), imapDay(now.AddDate(0, 0, 1))
	for _, tc := range []struct{ key, want string }{
		// A message's day is the day in its own zone (RFC 9051 6.4.4).
		{"ON 3-Mar-2026", "1"},
		{"ON 4-Mar-2026 UID 1", ""},
		{"SINCE 3-Mar-2026 UID 1", "1"},
		{"SINCE 4-Mar-2026 UID 1", ""},
		{"BEFORE 4-Mar-2026", "1"},
		{"BEFORE 3-Mar-2026", ""},
		{"SENTON 3-Mar-2026", "1"},
		{"SENTBEFORE 3-Mar-2026", ""},
		{"SENTBEFORE 4-Mar-2026", "1"},
		{"SENTSINCE 4-Mar-2026", ""},
		// The second message's dates are the clock's, in the server's zone.
		{"ON " + today + " UID 2", "2"},
		{"SAVEDON " + today, "1 2"},
		{"SAVEDBEFORE " + today, ""},
		{"SAVEDSINCE " + tomorrow, ""},
		{"SAVEDBEFORE " + tomorrow, "1 2"},
		{"YOUNGER 60", "2"},
		{"OLDER 60", "1"},
	} {
		want := "* SEARCH"
		if tc.want != "" {
			want += " " + tc.want
		}
		check(t, c.exchange("q", "SEARCH "+tc.key), want, "q OK SEARCH completed")
	}
}
