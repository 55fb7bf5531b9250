package loadtest

import (
	"github.com/tidemark-mail/tidemark/internal/corpus"
	"strings"
	"testing"
)

func TestSplitMbox(t *testing.T) {
	in := "From a@example.com Tue Nov 14 23:09:55 2023\n" +
		"Subject: one\n" +
		"\n" +
		">From the start of a line\n" +
		">>From deeper quoting\n" +
		"> From is not escaped\n" +
		"\n" +
		"From b@example.com Wed Nov 15 01:00:00 2023\n" +
		"Subject: two\r\n" +
		"\r\n" +
		"body"
	msgs, err := SplitMbox(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Subject: one\r\n\r\nFrom the start of a line\r\n>From deeper quoting\r\n> From is not escaped\r\n",
		"Subject: two\r\n\r\nbody\r\n",
	}
	if len(msgs) != len(want) {
		t.Fatalf("got %d messages, want %d: %q", len(msgs), len(want), msgs)
	}
	for i := range want {
		if string(msgs[i]) != want[i] {
			t.Errorf("message %d:\n got %q\nwant %q", i, msgs[i], want[i])
		}
	}
}

func TestSplitMboxIgnoresTextBeforeFirstFromLine(t *testing.T) {
	msgs, err := SplitMbox(strings.NewReader("junk\nFrom x\nA: b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || string(msgs[0]) != "A: b\r\n" {
		t.Fatalf("got %q", msgs)
	}
}

func TestReadMboxBenchCorpus(t *testing.T) {
	path := corpus.Path()
	msgs, err := ReadMbox(path)
	if err != nil {
		if corpus.Required() {
			t.Fatalf("bench corpus required: %v", err)
		}
		t.Skipf("bench corpus not available: %v", err)
	}
	if len(msgs) != 2000 {
		t.Fatalf("got %d messages from %s, want 2000", len(msgs), path)
	}
	for i, m := range msgs {
		if strings.HasPrefix(string(m), "From ") {
			t.Fatalf("message %d still starts with its From_ line", i)
		}
		if strings.Contains(strings.ReplaceAll(string(m), "\r\n", ""), "\n") {
			t.Fatalf("message %d has a bare LF", i)
		}
	}
}

// TestDistinctCopy: copies of one message differ from each other and keep
// the message whole, a header field in front, a line at the end.
func TestDistinctCopy(t *testing.T) {
	msg := []byte("Subject: x\r\n\r\nbody")
	a, b := DistinctCopy(msg, 1), DistinctCopy(msg, 2)
	if string(a) == string(b) {
		t.Fatal("two copies are equal")
	}
	if want := "X-Load-Copy: 1\r\nSubject: x\r\n\r\nbody\r\ncopy 1\r\n"; string(a) != want {
		t.Fatalf("copy 1 = %q, want %q", a, want)
	}
	if got := DistinctCopy([]byte("A: b\r\n\r\nc\r\n"), 7); string(got) != "X-Load-Copy: 7\r\nA: b\r\n\r\nc\r\ncopy 7\r\n" {
		t.Fatalf("copy 7 = %q", got)
	}
}
