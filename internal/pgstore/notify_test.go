package pgstore

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/store"
)

func mustAppend(t *testing.T, a store.Account, id store.MailboxID, body string) store.AppendResult {
	t.Helper()
	res, err := a.Append(ctx, id, []store.NewMessage{{Body: strings.NewReader(body)}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func waitWake(t *testing.T, w *store.Watcher, what string) {
	t.Helper()
	select {
	case <-w.C:
	case <-time.After(5 * time.Second):
		t.Fatalf("no wake-up: %s", what)
	}
}

// TestNotifyAcrossStores: a commit through one store (node) wakes
// watchers on another; a node does not hear its own commits twice.
func TestNotifyAcrossStores(t *testing.T) {
	dsn := pgtest.DSN(t)
	// pool_max_conns is the pool's, never sent to the server: the
	// listening connection must not trip on it.
	s1, s2 := openTest(t, dsn, Options{}), openTest(t, dsn+" pool_max_conns=7", Options{})
	if err := s1.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	a1, err := s1.Open(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer a1.Close()
	inbox, _ := a1.Mailbox(ctx, "INBOX")
	w := s2.Hub().Watch("alice", inbox.ID)
	defer w.Close()
	w1 := s1.Hub().Watch("alice", inbox.ID)
	defer w1.Close()
	res := mustAppend(t, a1, inbox.ID, "Subject: x\r\n\r\nx\r\n")
	waitWake(t, w, "append on the other node")
	if g := w.Generation(); g != 1 {
		t.Fatalf("node 2 generation %d after one commit", g)
	}
	// A burst of commits is coalesced into fewer wake-ups, never lost:
	// the last modseq is always announced.
	for i := 0; i < 20; i++ {
		mustAppend(t, a1, inbox.ID, "Subject: y\r\n\r\ny\r\n")
	}
	deadline := time.Now().Add(5 * time.Second)
	for s2.seenModSeq("alice", inbox.ID) != res.ModSeq+20 {
		if time.Now().After(deadline) {
			t.Fatalf("node 2 knows modseq %d, want %d", s2.seenModSeq("alice", inbox.ID), res.ModSeq+20)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if g := w.Generation(); g > 21 {
		t.Fatalf("node 2 published %d times for 21 commits", g)
	}
	time.Sleep(100 * time.Millisecond)
	if g := w1.Generation(); g != 21 {
		t.Fatalf("node 1 published its own 21 commits %d times", g)
	}
	// Deleting a mailbox is announced with modseq 0.
	a1.CreateMailbox(ctx, "Trash", store.CreateOptions{})
	trash, _ := a1.Mailbox(ctx, "Trash")
	wt := s2.Hub().Watch("alice", trash.ID)
	defer wt.Close()
	if err := a1.DeleteMailbox(ctx, "Trash"); err != nil {
		t.Fatal(err)
	}
	waitWake(t, wt, "mailbox deleted on the other node")
}

func (s *Store) seenModSeq(user string, id store.MailboxID) store.ModSeq {
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	return s.seen[mailboxKey{user, id}]
}

// TestCatchUpAfterDroppedConnection: commits made while a node's
// listening connection is down are found by modseq when it reconnects.
func TestCatchUpAfterDroppedConnection(t *testing.T) {
	dsn := pgtest.DSN(t)
	s1 := openTest(t, dsn, Options{})
	if err := s1.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	a1, _ := s1.Open(ctx, "alice")
	defer a1.Close()
	inbox, _ := a1.Mailbox(ctx, "INBOX")

	var once sync.Once
	committed := make(chan store.ModSeq, 1)
	s2, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	// While node 2 is disconnected, node 1 commits; its notification
	// goes to nobody.
	hook := func() {
		once.Do(func() {
			r, err := a1.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader("Subject: gap\r\n\r\nx\r\n")}})
			if err != nil {
				t.Error(err)
			}
			committed <- r.ModSeq
		})
	}
	s2.beforeReconnect.Store(&hook)
	a2, err := s2.Open(ctx, "alice") // node 2 has alice open
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	w := s2.Hub().Watch("alice", inbox.ID)
	defer w.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN `+channelName+`'`).Scan(&n); err != nil || n < 2 {
		t.Fatalf("terminated %d listeners: %v", n, err)
	}
	var m store.ModSeq
	select {
	case m = <-committed:
	case <-time.After(10 * time.Second):
		t.Fatal("node 2 never reconnected")
	}
	waitWake(t, w, "commit made while disconnected")
	if s2.reconnects.Load() == 0 || s2.seenModSeq("alice", inbox.ID) != m {
		t.Fatalf("reconnects %d, node 2 knows modseq %d, want %d", s2.reconnects.Load(), s2.seenModSeq("alice", inbox.ID), m)
	}
}

// TestMigrations: nodes starting together apply each migration once; a
// database newer than the program is refused.
func TestMigrations(t *testing.T) {
	dsn := pgtest.EmptyDSN(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(ctx, dsn, Options{NoListen: true})
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n, v int
	conn.QueryRow(ctx, `SELECT count(*), max(version) FROM tidemark_schema`).Scan(&n, &v)
	if n != SchemaVersion || v != SchemaVersion {
		t.Fatalf("%d migrations recorded, version %d; want %d", n, v, SchemaVersion)
	}
	conn.Exec(ctx, `INSERT INTO tidemark_schema (version) VALUES ($1)`, SchemaVersion+1)
	if s, err := Open(ctx, dsn, Options{NoListen: true}); err == nil {
		s.Close()
		t.Fatal("opened a database of a newer schema")
	}
}

// TestBodiesSharedAcrossUsers: the same bytes delivered to two users are
// stored once, and go when the last message naming them goes.
func TestBodiesSharedAcrossUsers(t *testing.T) {
	s := openTest(t, pgtest.DSN(t), Options{NoListen: true})
	count := func() (bodies, parts int) {
		s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM bodies), (SELECT count(*) FROM body_parts)`).Scan(&bodies, &parts)
		return
	}
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef", 40000) // 640 KB: three parts
	for _, u := range []string{"alice", "bob"} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		a, _ := s.Open(ctx, u)
		inbox, _ := a.Mailbox(ctx, "INBOX")
		mustAppend(t, a, inbox.ID, big)
		mustAppend(t, a, inbox.ID, "Subject: small\r\n\r\nsmall\r\n")
		a.Close()
	}
	if b, p := count(); b != 2 || p != 4 {
		t.Fatalf("%d bodies in %d parts, want 2 in 4", b, p)
	}
	if err := s.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if b, _ := count(); b != 2 {
		t.Fatalf("%d bodies after one user left, want 2", b)
	}
	a, _ := s.Open(ctx, "bob")
	inbox, _ := a.Mailbox(ctx, "INBOX")
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSet{{Start: 1, Stop: 10}}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	// Until a reclamation pass the bytes stay: a reader may still be on
	// them.
	if b, _ := count(); b != 2 {
		t.Fatalf("%d bodies right after the expunge, want 2 until reclaimed", b)
	}
	if n, err := s.Reclaim(ctx, 0); err != nil || n != 2 {
		t.Fatalf("Reclaim = %d, %v", n, err)
	}
	if b, p := count(); b != 0 || p != 0 {
		t.Fatalf("%d bodies, %d parts left with no message", b, p)
	}
}
