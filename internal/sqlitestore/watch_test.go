package sqlitestore

import (
	"fmt"
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
		case <-time.After(5 * time.Second):
			t.Fatalf("no wake-up after %s", what)
		}
	}
	quiet := func(w *store.Watcher, what string) {
		t.Helper()
		select {
		case <-w.C:
			t.Fatalf("wake-up %s", what)
		case <-time.After(10 * pollInterval):
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
