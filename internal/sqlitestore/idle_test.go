package sqlitestore

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// openUsers returns whether each user's database is open, and how many
// are kept idle.
func openUsers(s *Store, names ...string) (open []bool, idle int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		open = append(open, s.users[n] != nil)
	}
	return open, len(s.idle)
}

// TestKeepIdle: with Options.KeepIdle a user's database stays open after
// its last handle closes, the next Open reuses it (no new reconcile
// commit), DeleteUser still works on it, and no more than MaxIdle stay.
func TestKeepIdle(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{KeepIdle: time.Hour, MaxIdle: 2})
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	a, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 3, store.Flags{})
	first := a.u
	commits := first.commits.Load()
	a.Close()
	if open, idle := openUsers(s, "alice"); !open[0] || idle != 1 {
		t.Fatalf("after the last Close: open %v, idle %d; want open and kept idle", open, idle)
	}

	a, err = s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if a.u != first {
		t.Fatal("Open after an idle Close opened the database again")
	}
	if got := a.u.commits.Load(); got != commits {
		t.Fatalf("reopening committed %d transactions; want none", got-commits)
	}
	if st, err := a.Status(ctx, inbox.ID); err != nil || st.Messages != 3 {
		t.Fatalf("Status after reopening: %+v, %v", st, err)
	}
	// While a handle is open the user cannot be deleted.
	if err := s.DeleteUser(ctx, "alice"); !isErr(err, store.ErrCannot) {
		t.Fatalf("DeleteUser with a handle open: %v; want ErrCannot", err)
	}
	a.Close()

	// Idle, it can: the database is closed first.
	if err := s.DeleteUser(ctx, "alice"); err != nil {
		t.Fatalf("DeleteUser of an idle user: %v", err)
	}
	if open, idle := openUsers(s, "alice"); open[0] || idle != 0 {
		t.Fatalf("after DeleteUser: open %v, idle %d", open, idle)
	}
	if _, err := s.Open(ctx, "alice"); !isErr(err, store.ErrNoUser) {
		t.Fatalf("Open after DeleteUser: %v; want ErrNoUser", err)
	}

	// MaxIdle 2: a third idle user closes the one idle longest.
	for _, u := range []string{"bob", "carol"} {
		h, err := s.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		h.Close()
	}
	if err := s.CreateUser(ctx, "dave"); err != nil {
		t.Fatal(err)
	}
	h, err := s.Open(ctx, "dave")
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	if open, idle := openUsers(s, "bob", "carol", "dave"); open[0] || !open[1] || !open[2] || idle != 2 {
		t.Fatalf("open bob, carol, dave: %v, idle %d; want bob closed, 2 idle", open, idle)
	}

	// Close closes the idle ones too.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if open, idle := openUsers(s, "carol", "dave"); open[0] || open[1] || idle != 0 {
		t.Fatalf("after Close: open %v, idle %d", open, idle)
	}
}

// TestKeepIdleExpires: an idle database is closed once KeepIdle passed
// without a handle, and opened afresh (with what was committed) after.
func TestKeepIdleExpires(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{KeepIdle: 20 * time.Millisecond})
	if err := s.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	a, err := s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	inbox := mustMailbox(t, a, "INBOX")
	appendN(t, a, inbox.ID, 2, store.Flags{})
	a.Close()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if open, _ := openUsers(s, "alice"); !open[0] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the idle database was never closed")
		}
	}
	a, err = s.openAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if st, err := a.Status(ctx, inbox.ID); err != nil || st.Messages != 2 {
		t.Fatalf("Status after reopening: %+v, %v", st, err)
	}
}

// TestOpenConcurrent: Opens and Closes of several users from many
// goroutines at once (the first opens run outside the store's lock) end
// with one database per user, each write in it, and nothing left open.
func TestOpenConcurrent(t *testing.T) {
	for _, keep := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprint("keep=", keep), func(t *testing.T) {
			s := openStore(t, t.TempDir(), Options{KeepIdle: keep})
			users := []string{"u1", "u2", "u3", "u4"}
			for _, u := range users {
				if err := s.CreateUser(ctx, u); err != nil {
					t.Fatal(err)
				}
			}
			const perUser = 8
			var wg sync.WaitGroup
			errs := make(chan error, len(users)*perUser)
			for i := range len(users) * perUser {
				wg.Add(1)
				go func() {
					defer wg.Done()
					a, err := s.Open(ctx, users[i%len(users)])
					if err != nil {
						errs <- err
						return
					}
					defer a.Close()
					inbox, err := a.Mailbox(ctx, "INBOX")
					if err == nil {
						_, err = a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader(testMessage(i, ""))}})
					}
					if err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			open, idle := openUsers(s, users...)
			for i, u := range users {
				if open[i] != (keep > 0) {
					t.Errorf("%s open %v with KeepIdle %v", u, open[i], keep)
				}
				a, err := s.Open(ctx, u)
				if err != nil {
					t.Fatal(err)
				}
				if st, err := a.Status(ctx, mustMailbox(t, a, "INBOX").ID); err != nil || st.Messages != perUser {
					t.Errorf("%s: %+v, %v; want %d messages", u, st, err, perUser)
				}
				a.Close()
			}
			if keep > 0 && idle != len(users) {
				t.Errorf("%d idle; want %d", idle, len(users))
			}
		})
	}
}
