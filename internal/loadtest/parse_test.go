package loadtest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestLiteralSize(t *testing.T) {
	cases := []struct {
		line string
		n    int64
		ok   bool
	}{
		{"* 1 FETCH (BODY[] {42}\r\n", 42, true},
		{"A1 APPEND x {7+}\r\n", 7, true},
		{"* 1 FETCH (BODY[] {0}\r\n", 0, true},
		{"* OK done\r\n", 0, false},
		{"* OK {x}\r\n", 0, false},
		{"* OK {}\r\n", 0, false},
		{"* OK {12\r\n", 0, false},
	}
	for _, c := range cases {
		n, ok := literalSize([]byte(c.line))
		if n != c.n || ok != c.ok {
			t.Errorf("literalSize(%q) = %d, %v; want %d, %v", c.line, n, ok, c.n, c.ok)
		}
	}
}

func TestParseTagged(t *testing.T) {
	st, text, ok := parseTagged([]byte("T12 ok [READ-WRITE] Select completed.\r\n"), "T12")
	if !ok || st != "OK" || text != "[READ-WRITE] Select completed." {
		t.Errorf("got %q %q %v", st, text, ok)
	}
	if _, _, ok := parseTagged([]byte("T123 OK x\r\n"), "T12"); ok {
		t.Error("T123 taken for T12")
	}
	if _, _, ok := parseTagged([]byte("* OK x\r\n"), "T1"); ok {
		t.Error("untagged taken as tagged")
	}
}

func TestParseCapabilities(t *testing.T) {
	got := parseCapabilities([]byte("* OK [CAPABILITY IMAP4rev1 literal+ IDLE] Dovecot ready.\r\n"))
	if !slices.Equal(got, []string{"IMAP4REV1", "LITERAL+", "IDLE"}) {
		t.Errorf("greeting: %q", got)
	}
	got = parseCapabilities([]byte("* CAPABILITY IMAP4rev1 MULTIAPPEND QRESYNC\r\n"))
	if !slices.Equal(got, []string{"IMAP4REV1", "MULTIAPPEND", "QRESYNC"}) {
		t.Errorf("response: %q", got)
	}
	if got := parseCapabilities([]byte("* 3 EXISTS\r\n")); got != nil {
		t.Errorf("EXISTS: %q", got)
	}
}

func TestSelectInfoUpdate(t *testing.T) {
	var si SelectInfo
	for _, l := range []string{
		"* FLAGS (\\Answered \\Flagged)\r\n",
		"* 10000 EXISTS\r\n",
		"* 0 RECENT\r\n",
		"* OK [UIDVALIDITY 1700000000] UIDs valid\r\n",
		"* OK [UIDNEXT 10001] Predicted next UID\r\n",
		"* OK [HIGHESTMODSEQ 123456789012] Highest\r\n",
		"* VANISHED (EARLIER) 3:5,9\r\n",
		"* 7 FETCH (UID 7 FLAGS (\\Seen) MODSEQ (12))\r\n",
	} {
		si.Update([]byte(l))
	}
	want := SelectInfo{Exists: 10000, UIDValidity: 1700000000, UIDNext: 10001, HighestModSeq: 123456789012, Vanished: 1, Fetches: 1}
	if si != want {
		t.Errorf("got %+v, want %+v", si, want)
	}
}

func TestParseStatusMessages(t *testing.T) {
	if n, ok := parseStatusMessages([]byte("* STATUS \"bench-10\" (MESSAGES 10)\r\n")); !ok || n != 10 {
		t.Errorf("got %d %v", n, ok)
	}
	if n, ok := parseStatusMessages([]byte("* STATUS x (UIDNEXT 4 MESSAGES 3 UNSEEN 1)\r\n")); !ok || n != 3 {
		t.Errorf("got %d %v", n, ok)
	}
	if _, ok := parseStatusMessages([]byte("* 3 EXISTS\r\n")); ok {
		t.Error("EXISTS taken as STATUS")
	}
}

func TestParseFetchFlags(t *testing.T) {
	seq, flags, ok := parseFetchFlags([]byte("* 17 FETCH (UID 40 FLAGS (\\Seen \\Answered))\r\n"))
	if !ok || seq != 17 || !slices.Equal(flags, []string{`\Seen`, `\Answered`}) {
		t.Errorf("got %d %q %v", seq, flags, ok)
	}
	if _, flags, ok := parseFetchFlags([]byte("* 2 FETCH (FLAGS ())\r\n")); !ok || len(flags) != 0 {
		t.Errorf("empty flags: %q %v", flags, ok)
	}
	if _, _, ok := parseFetchFlags([]byte("* 2 EXPUNGE\r\n")); ok {
		t.Error("EXPUNGE taken as FETCH")
	}
}

func TestParseSearchCount(t *testing.T) {
	cases := []struct {
		line string
		n    int
	}{
		{"* SEARCH 1 4 9\r\n", 3},
		{"* SEARCH\r\n", 0},
		{"* ESEARCH (TAG \"T5\") UID ALL 1:5,9,12:10\r\n", 9},
		{"* ESEARCH (TAG \"T5\") UID COUNT 17\r\n", 17},
	}
	for _, c := range cases {
		if n, ok := parseSearchCount([]byte(c.line)); !ok || n != c.n {
			t.Errorf("parseSearchCount(%q) = %d, %v; want %d", c.line, n, ok, c.n)
		}
	}
}

func TestSamplesResult(t *testing.T) {
	var s samples
	for i, ms := range []int{50, 10, 40, 20, 30, 90, 60, 70, 80, 100} {
		s.add(time.Duration(ms)*time.Millisecond, int64(i))
	}
	r := s.result("x", 5)
	if r.Median != 50*time.Millisecond || r.P90 != 90*time.Millisecond || r.Reps != 10 {
		t.Errorf("median %v p90 %v reps %d", r.Median, r.P90, r.Reps)
	}
	if r.Bytes != 0 { // the 50ms sample was added first
		t.Errorf("bytes of the median sample = %d, want 0", r.Bytes)
	}
	r = withRate(r, 1000, "msg/s")
	if r.Rate != 20000 {
		t.Errorf("rate %v", r.Rate)
	}
}

func TestCheckLoopback(t *testing.T) {
	ctx := context.Background()
	for _, ok := range []string{"127.0.0.1:1143", "127.1.2.3:1", "[::1]:143", "localhost:1143"} {
		if _, err := CheckLoopback(ctx, ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"10.0.0.1:143", "192.168.1.1:143", "8.8.8.8:143", "example.com:143", "0.0.0.0:143"} {
		if _, err := CheckLoopback(ctx, bad); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("%s: err = %v, want ErrNotLoopback", bad, err)
		}
	}
	if _, err := Dial(ctx, "10.0.0.1:143"); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("Dial of a private address: err = %v", err)
	}
}
