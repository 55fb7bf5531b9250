package server

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// A session can address a message that another session has expunged
// until its next sync point. These tests make the other session's
// expunge — and a reclamation pass right after it — land inside a
// command, between the moment the command read the message's row and
// the moment it opens the bytes, and check that the command still serves
// them (RFC 9051 allows serving an expunged message until the EXPUNGE is
// announced) and never answers NO [SERVERBUG].

// openHookStore calls hook before every OpenBlob of the accounts it opens,
// and before a message whose bytes ReadMessages read with its row is
// handed on: the same window, between reading a message's row and using
// its bytes.
type openHookStore struct {
	store.Store
	hook func(blobID string)
}

type openHookAccount struct {
	store.Account
	hook func(blobID string)
}

func (s openHookStore) Open(ctx context.Context, user string) (store.Account, error) {
	a, err := s.Store.Open(ctx, user)
	if err != nil {
		return nil, err
	}
	return openHookAccount{a, s.hook}, nil
}

func (a openHookAccount) OpenBlob(ctx context.Context, blobID string) (store.Blob, error) {
	a.hook(blobID)
	return a.Account.OpenBlob(ctx, blobID)
}

func (a openHookAccount) ReadMessages(ctx context.Context, id store.MailboxID, uids store.UIDSet, fields store.Fields, fn func(*store.MessageData) error) error {
	return a.Account.ReadMessages(ctx, id, uids, fields, func(m *store.MessageData) error {
		if m.Body != nil {
			a.hook(m.BlobID)
		}
		return fn(m)
	})
}

// raceBodies are messages on both sides of the store's default inline
// limit (64 KiB), each with the word "needle" in its last line.
func raceBodies() map[string]string {
	line := strings.Repeat("filler ", 10) + "\r\n"
	return map[string]string{
		"inline": "From: a@example.org\r\nSubject: small\r\n\r\n" + line + "needle\r\n",
		"file":   "From: a@example.org\r\nSubject: large\r\n\r\n" + strings.Repeat(line, 1200) + "needle\r\n",
	}
}

// expungeInTheWindow sets up a server whose store, at the first OpenBlob
// after arm() is called, has another session expunge UID 1 and run a
// reclamation pass (bounded, since a correct pass waits for the reader).
func expungeInTheWindow(t *testing.T, body string) (env *testEnv, arm func(), fired *atomic.Bool) {
	var armed atomic.Bool
	fired = new(atomic.Bool)
	var self atomic.Pointer[testEnv]
	env = newTestEnv(t, func(cfg *Config) {
		cfg.Store = openHookStore{Store: cfg.Store, hook: func(string) {
			if !armed.CompareAndSwap(true, false) {
				return
			}
			e := self.Load()
			a := e.account()
			mb, err := a.Mailbox(context.Background(), "INBOX")
			if err != nil {
				t.Error(err)
				return
			}
			if res, err := a.Expunge(context.Background(), mb.ID, store.UIDSetOf(1)); err != nil || len(res.UIDs) != 1 {
				t.Errorf("expunge in the window: %+v, %v", res, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if st, ok := e.store.(*sqlitestore.Store); ok {
				st.Reclaim(ctx, testUser, -1) // times out while the reader holds the row
			}
			fired.Store(true)
		}}
	})
	self.Store(env)
	a := env.account()
	mb, err := a.Mailbox(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs := []store.NewMessage{{Body: strings.NewReader(body)}, {Body: strings.NewReader("From: b@example.org\r\n\r\nother\r\n")}}
	if _, err := a.Append(context.Background(), mb.ID, msgs); err != nil {
		t.Fatal(err)
	}
	return env, func() { armed.Store(true) }, fired
}

// TestExpungedWhileReadingIsServed: FETCH BODY[], FETCH BINARY[],
// BODY.PEEK partial, SEARCH BODY and SEARCH TEXT of a message expunged
// (and reclaimed, as far as it may be) in the middle of the command.
func TestExpungedWhileReadingIsServed(t *testing.T) {
	for kind, body := range raceBodies() {
		cases := []struct {
			cmd  string
			want string // a line that must be among the responses
		}{
			{"FETCH 1 (BODY[])", fmt.Sprintf("* 1 FETCH (BODY[] {%d}", len(body))},
			{"UID FETCH 1 (BINARY.PEEK[1])", "BINARY[1] {"},
			{"FETCH 1 (BODY.PEEK[TEXT]<0.5>)", "BODY[TEXT]<0> "},
			{"SEARCH BODY needle", "* SEARCH 1"},
			{"UID SEARCH TEXT needle", "* SEARCH 1"},
		}
		for _, tc := range cases {
			t.Run(kind+"/"+tc.cmd, func(t *testing.T) {
				env, arm, fired := expungeInTheWindow(t, body)
				c := env.dial()
				c.login()
				c.send("s SELECT INBOX")
				c.until("s OK")
				arm()
				c.send("a " + tc.cmd)
				lines := c.until("a ")
				last := lines[len(lines)-1]
				if !fired.Load() {
					t.Fatal("the command opened no body: the test tests nothing")
				}
				if !strings.HasPrefix(last, "a OK") {
					t.Fatalf("%s answered %q", tc.cmd, last)
				}
				found := false
				for _, l := range lines {
					found = found || strings.Contains(l, tc.want)
				}
				if !found {
					t.Fatalf("no %q among %d lines; last %q", tc.want, len(lines), last)
				}
				// The expunge is announced with a UID command's responses
				// (RFC 9051 7.4.1), otherwise at the next sync point.
				c.send("n NOOP")
				lines = append(lines, c.until("n OK")...)
				if n := countLines(lines, "* 1 EXPUNGE"); n != 1 {
					t.Fatalf("EXPUNGE announced %d times: %q", n, lines)
				}
			})
		}
	}
}

// TestCopyMoveOfExpunged: COPY and MOVE of a set that includes a message
// another session expunged (not yet announced) copy or move the others
// and say which in COPYUID; the expunged one is neither an error nor
// copied.
func TestCopyMoveOfExpunged(t *testing.T) {
	for _, cmd := range []string{"COPY", "MOVE"} {
		t.Run(cmd, func(t *testing.T) {
			env := newTestEnv(t, nil)
			env.appendMessages("INBOX", 3, store.Flags{})
			a := env.account()
			if _, err := a.CreateMailbox(context.Background(), "Archive", store.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			c := env.dial()
			c.login()
			c.send("s SELECT INBOX")
			c.until("s OK")
			inbox, _ := a.Mailbox(context.Background(), "INBOX")
			if _, err := a.Expunge(context.Background(), inbox.ID, store.UIDSetOf(2)); err != nil {
				t.Fatal(err)
			}
			c.send("a " + cmd + " 1:3 Archive")
			lines := c.until("a ")
			last := lines[len(lines)-1]
			// COPYUID is in the tagged OK of COPY, in an untagged OK
			// before the expunges of MOVE (RFC 6851 4.3).
			if !strings.HasPrefix(last, "a OK") || !strings.Contains(strings.Join(lines, "\n"), "[COPYUID ") ||
				!strings.Contains(strings.Join(lines, "\n"), " 1,3 1:2]") {
				t.Fatalf("%s answered %q", cmd, lines)
			}
			ar, _ := a.Mailbox(context.Background(), "Archive")
			st, err := a.Status(context.Background(), ar.ID)
			if err != nil || st.Messages != 2 {
				t.Fatalf("Archive holds %d messages, %v; want 2", st.Messages, err)
			}
			c.send("n NOOP")
			got := c.until("n OK")
			// Three messages went (one expunged, two moved) or one (the
			// expunged one); each is announced exactly once.
			want := 1
			if cmd == "MOVE" {
				want = 3
			}
			if n := countSuffix(append(lines, got...), " EXPUNGE"); n != want {
				t.Fatalf("%s: %d expunges announced, want %d: during %q, after %q", cmd, n, want, lines, got)
			}
		})
	}
}

func countLines(lines []string, want string) int {
	n := 0
	for _, l := range lines {
		if l == want {
			n++
		}
	}
	return n
}

func countSuffix(lines []string, suffix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "* ") && strings.HasSuffix(l, suffix) {
			n++
		}
	}
	return n
}
