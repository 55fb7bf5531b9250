package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

func TestListPatternMatch(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "INBOX", true},
		{"*", "a/b/c", true},
		{"%", "a", true},
		{"%", "a/b", false},
		{"%/%", "a/b", true},
		{"%/%", "a/b/c", false},
		{"a/*", "a", false},
		{"a/*", "a/", true},
		{"a*", "a/b", true},
		{"a%", "a/b", false},
		{"inbox", "INBOX", true},
		{"iNbOx/Sub", "INBOX/Sub", true},
		{"iNbOx/sub", "INBOX/Sub", false}, // only INBOX folds
		{"In%", "INBOX", true},
		{"in*", "inside", true},
		{"IN*", "inside", false},
		{"Inbox2", "INBOX2", false},
		{"Entw%rfe", "Entwürfe", true},
		{"Entw?rfe", "Entwürfe", false},
		{"*ü*", "Entwürfe", true},
		{"%*%", "x/y", true},
		{"*a*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 1000), false},
		{"*a*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 999) + "b", true},
		{"", "", true},
		{"", "a", false},
	}
	for _, c := range cases {
		p, ok := compileListPattern(c.pattern)
		if !ok {
			t.Fatalf("compile %q failed", c.pattern)
		}
		if got := p.match(c.name); got != c.want {
			t.Errorf("%q matches %q = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
	if _, ok := compileListPattern(strings.Repeat("x", maxPatternTokens+1)); ok {
		t.Error("overlong pattern compiled")
	}
	// A long run of wildcards collapses to one token.
	if p, ok := compileListPattern(strings.Repeat("*%", 10000) + "x"); !ok || len(p.toks) != 2 {
		t.Errorf("wildcard run not collapsed: ok=%v", ok)
	}
}

// The adversarial pattern costs no more than a linear scan per state: a
// backtracking matcher would need about C(1500, 500) steps and never end,
// so a finish at all (before a deadline that only catches that hang) is the
// check. How fast it is, BenchmarkListPatternAdversarial measures.
func TestListPatternNoBacktracking(t *testing.T) {
	p, _ := compileListPattern(strings.Repeat("*a", 500) + "b")
	name := strings.Repeat("a", 1000)
	done := make(chan bool, 1)
	go func() {
		matched := false
		for i := 0; i < 10; i++ {
			matched = matched || p.match(name)
		}
		done <- matched
	}()
	select {
	case matched := <-done:
		if matched {
			t.Fatal("matched")
		}
	case <-time.After(hangDeadline):
		t.Fatal("the matcher backtracks: no answer")
	}
}

func BenchmarkListPatternAdversarial(b *testing.B) {
	p, _ := compileListPattern(strings.Repeat("*a", 500) + "b")
	name := strings.Repeat("a", 1000)
	b.ReportAllocs()
	for b.Loop() {
		p.match(name)
	}
}

func BenchmarkListPatternMatch(b *testing.B) {
	p, _ := compileListPattern("Archive/%/Reports*")
	names := []string{"INBOX", "Archive/2019/Reports/Q1", "Archive/2019/Misc", "Projects/Tidemark/Notes"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p.match(names[i%len(names)])
	}
}

// listFixture makes n mailboxes in a three-level tree, a tenth of them
// subscribed.
func listFixture(tb testing.TB, e *testEnv, n int) {
	a := e.account()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("Top%02d/Mid%02d/Box%04d", i%20, (i/20)%10, i)
		if _, err := a.CreateMailbox(ctx, name, store.CreateOptions{}); err != nil {
			tb.Fatal(err)
		}
		if i%10 == 0 {
			if err := a.SetSubscribed(ctx, name, true); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// LIST over 2,000 mailboxes (2,221 names with the parents) gives the
// right names for each pattern and selection option. Its speed is measured
// by BenchmarkListThousands, not asserted.
func TestListThousands(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 2,000 mailboxes")
	}
	e := newTestEnv(t, nil)
	listFixture(t, e, 2000)
	c := e.dial()
	c.loginRev2()
	for _, cmd := range []string{
		`a LIST "" "*"`,
		`b LIST "" "%/%"`,
		`c LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)`,
		`d LIST "" "*Box01*" RETURN (SUBSCRIBED)`,
	} {
		c.send(cmd)
		lines := c.until(cmd[:2])
		if !strings.HasSuffix(lines[len(lines)-1], "OK LIST completed") {
			t.Fatalf("%s: %q", cmd, lines[len(lines)-1])
		}
		switch cmd[0] {
		case 'a':
			if len(lines)-1 != 2000+20+200+1 {
				t.Errorf("LIST * gave %d names", len(lines)-1)
			}
		case 'b':
			if len(lines)-1 != 200 {
				t.Errorf("LIST %%/%% gave %d names", len(lines)-1)
			}
		case 'd':
			if len(lines)-1 != 100 {
				t.Errorf("LIST *Box01* gave %d names", len(lines)-1)
			}
		case 'c':
			// Subscribed boxes are every tenth: all under Top00 and Top10.
			if len(lines)-1 != 2 {
				t.Errorf("RECURSIVEMATCH gave %d names", len(lines)-1)
			}
		}
	}
}

// BenchmarkListThousands times LIST "" "*" over 2,000 mailboxes (2,221
// names): one store read and in-memory matching per command.
func BenchmarkListThousands(b *testing.B) {
	bs := newBenchServer(b)
	for i := 0; i < 2000; i++ {
		name := fmt.Sprintf("Top%02d/Mid%02d/Box%04d", i%20, (i/20)%10, i)
		if _, err := bs.acct.CreateMailbox(context.Background(), name, store.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	c := bs.dial(b)
	for b.Loop() {
		if lines, _ := c.run(`B LIST "" "*"`); lines != 2221 {
			b.Fatalf("%d names", lines)
		}
	}
}
