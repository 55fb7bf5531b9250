package message

import (
	"bytes"
	"testing"
)

// TestBenchMbox parses every message of the benchmark mailbox and checks
// that each parse is consistent with the bytes.
func TestBenchMbox(t *testing.T) {
	msgs := loadMbox(t)
	if len(msgs) != 2000 {
		t.Fatalf("%d messages in the mailbox, want 2000", len(msgs))
	}
	var parts, rfc822, withDate, withSubject int
	for i, msg := range msgs {
		s := mustParse(t, msg)
		checkConsistent(t, msg, s)
		_, ps := partPaths(s)
		parts += len(ps)
		for _, p := range ps {
			if p.Message != nil {
				rfc822++
			}
		}
		if !s.Search.Date.IsZero() {
			withDate++
		}
		if s.Search.Subject != "" {
			withSubject++
		}
		if len(s.Envelope.From) == 0 {
			t.Errorf("message %d: no From", i)
		}
		if bytes.Contains([]byte(s.Search.Subject), []byte("=?")) {
			t.Errorf("message %d: subject not decoded: %q", i, s.Search.Subject)
		}
	}
	if withDate != len(msgs) || withSubject != len(msgs) {
		t.Errorf("dates parsed for %d, subjects for %d of %d messages", withDate, withSubject, len(msgs))
	}
	if rfc822 == 0 {
		t.Errorf("no message/rfc822 part found")
	}
	t.Logf("%d messages, %d parts, %d encapsulated messages", len(msgs), parts, rfc822)
}
