package sqlitestore

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// TestForeignCommitsWakeWatchers opens one directory with two Stores, as
// tidemark serve and tidemark deliver would: commits through one wake the
// other's hub watchers, once per change.
func TestForeignCommitsWakeWatchers(t *testing.T) {
	old := pollInterval
	pollInterval = 20 * time.Millisecond
	t.Cleanup(func() { pollInterval = old })
	polls := countPolls(t)

	dir := t.TempDir()
	serve := openStore(t, dir, Options{})
	if err := serve.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	a, err := serve.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	inbox := mustMailbox(t, a, "INBOX")
	other, err := a.CreateMailbox(ctx, "other", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := serve.Hub().Watch("alice", inbox.ID)
	defer w.Close()
	wOther := serve.Hub().Watch("alice", other.ID)
	defer wOther.Close()

	deliver := openStore(t, dir, Options{})
	b, err := deliver.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	drain := func(w *store.Watcher) {
		select {
		case <-w.C:
		default:
		}
	}
	wait := func(w *store.Watcher, what string) {
		t.Helper()
		select {
		case <-w.C:
		case <-time.After(hangDeadline):
			t.Fatalf("no wake-up after %s", what)
		}
	}
	// quiet lets the serving store's poller run twice more (so at least
	// one whole poll began after the last commit), then checks that it
	// woke nobody: an event, not a span of time.
	quiet := func(w *store.Watcher, what string) {
		t.Helper()
		polls.waitMore(t, 2)
		select {
		case <-w.C:
			t.Fatalf("wake-up %s", what)
		default:
		}
	}
	drain(w)
	drain(wOther)

	appendN(t, b, inbox.ID, 2, store.Flags{})
	wait(w, "an append by the other store")
	quiet(w, "with nothing changed since")
	quiet(wOther, "for a mailbox the append did not touch")
	if st, _ := a.Status(ctx, inbox.ID); st.Messages != 2 {
		t.Fatalf("serving store sees %d messages", st.Messages)
	}

	if _, err := b.SetFlags(ctx, inbox.ID, store.UIDSetOf(1), store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0); err != nil {
		t.Fatal(err)
	}
	wait(w, "a flag change by the other store")

	// A local commit is announced by the write path, not again by the
	// poller.
	appendN(t, a, other.ID, 1, store.Flags{})
	wait(wOther, "a local append")
	quiet(wOther, "after a local append was announced")
}

// TestTwoStoresNeverRepeatUIDValidity creates mailboxes through two
// Stores on one directory within the same second: the second must see the
// manifest counter the first advanced.
func TestTwoStoresNeverRepeatUIDValidity(t *testing.T) {
	dir := t.TempDir()
	s1 := openStore(t, dir, Options{})
	if err := s1.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir, Options{})
	a1, err := s1.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a1.Close()
	a2, err := s2.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	seen := map[uint32]string{}
	for i := 0; i < 4; i++ {
		for j, a := range []*Account{a1, a2} {
			name := fmt.Sprintf("box%d-%d", i, j)
			m, err := a.CreateMailbox(ctx, name, store.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if prev, dup := seen[m.UIDValidity]; dup {
				t.Fatalf("%s and %s share UIDVALIDITY %d", prev, name, m.UIDValidity)
			}
			seen[m.UIDValidity] = name
		}
	}
}

// hangDeadline bounds waits for an event; it only catches a hang.
const hangDeadline = 2 * time.Minute

// pollCounter counts the pollers' polls through the pollFault hook.
type pollCounter struct {
	mu    sync.Mutex
	n     int
	moved chan struct{} // closed and replaced at each poll
	fail  error         // returned by every poll while set
}

func countPolls(t *testing.T) *pollCounter {
	c := &pollCounter{moved: make(chan struct{})}
	pollFault = func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.n++
		close(c.moved)
		c.moved = make(chan struct{})
		return c.fail
	}
	t.Cleanup(func() { pollFault = nil })
	return c
}

// waitMore waits until k more polls (by any open store) have begun.
func (c *pollCounter) waitMore(t *testing.T, k int) {
	t.Helper()
	c.mu.Lock()
	target := c.n + k
	c.mu.Unlock()
	deadline := time.After(hangDeadline)
	for {
		c.mu.Lock()
		n, moved := c.n, c.moved
		c.mu.Unlock()
		if n >= target {
			return
		}
		select {
		case <-moved:
		case <-deadline:
			t.Fatalf("the poller stopped polling (%d of %d polls)", n, target)
		}
	}
}

func (c *pollCounter) setFail(err error) {
	c.mu.Lock()
	c.fail = err
	c.mu.Unlock()
}

// lockedBuffer is a bytes.Buffer safe for a logger and a test at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A poller that cannot read the database says so once, keeps trying, says
// when it works again, and then still sees other processes' commits.
func TestPollFailuresAreLogged(t *testing.T) {
	old := pollInterval
	pollInterval = 5 * time.Millisecond
	t.Cleanup(func() { pollInterval = old })
	polls := countPolls(t)
	var logs lockedBuffer
	dir := t.TempDir()
	serve := openStore(t, dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err := serve.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	a, err := serve.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	inbox := mustMailbox(t, a, "INBOX")
	w := serve.Hub().Watch("alice", inbox.ID)
	defer w.Close()

	polls.setFail(errors.New("disk I/O error"))
	polls.waitMore(t, 10)
	if got := strings.Count(logs.String(), "cannot look for other processes' commits"); got != 1 {
		t.Fatalf("%d warnings for 10 failed polls, want 1:\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), "disk I/O error") || !strings.Contains(logs.String(), "user=alice") {
		t.Fatalf("the warning names neither the error nor the user:\n%s", logs.String())
	}
	deliver := openStore(t, dir, Options{})
	b, err := deliver.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	appendN(t, b, inbox.ID, 1, store.Flags{})
	polls.setFail(nil)
	select {
	case <-w.C:
	case <-time.After(hangDeadline):
		t.Fatal("a commit made while polls failed was never announced")
	}
	if !strings.Contains(logs.String(), "looking for other processes' commits again") {
		t.Fatalf("recovery not logged:\n%s", logs.String())
	}
}
