package shardstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/pgstore"
	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetest"
)

func TestMain(m *testing.M) {
	pgtest.UseTemplate(func(ctx context.Context, dsn string) error {
		s, err := pgstore.Open(ctx, dsn, pgstore.Options{NoListen: true})
		if err != nil {
			return err
		}
		s.Close()
		return nil
	})
	pgtest.ParallelDefault(6)
	os.Exit(pgtest.Main(m))
}

var ctx = context.Background()

// twoClusters opens a sharded store over two fresh databases (standing in
// for two clusters): "alice" lives on shard "b", everyone else on "a".
func twoClusters(t testing.TB, o storetest.Options) (*Store, map[string]string) {
	t.Helper()
	hub := store.NewHub()
	dsns := map[string]string{"a": pgtest.DSN(t), "b": pgtest.DSN(t)}
	shards := map[string]store.Store{}
	for name, dsn := range dsns {
		st, err := pgstore.Open(ctx, dsn, pgstore.Options{Hub: hub, MaxMessageSize: o.MaxMessageSize})
		if err != nil {
			t.Fatal(err)
		}
		shards[name] = st
	}
	s, err := New(hub, shards, "a", map[string]string{"Alice": "b"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dsns
}

// TestConformance runs the store suite over two shards: its users alice
// and bob land on different databases.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("two databases per test")
	}
	storetest.Run(t, storetest.Backend{
		New: func(t testing.TB, o storetest.Options) store.Store {
			s, _ := twoClusters(t, o)
			return s
		},
		Parallel: true,
	})
}

// TestUsersLandOnTheirShard: each user's mail is in the database the
// directory names, and the sharded store lists both.
func TestUsersLandOnTheirShard(t *testing.T) {
	s, dsns := twoClusters(t, storetest.Options{})
	for _, u := range []string{"alice", "bob"} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if us, _ := s.Users(ctx); !slices.Equal(us, []string{"alice", "bob"}) {
		t.Fatalf("users %v", us)
	}
	for name, want := range map[string]string{"a": "bob", "b": "alice"} {
		st, err := pgstore.Open(ctx, dsns[name], pgstore.Options{NoListen: true})
		if err != nil {
			t.Fatal(err)
		}
		us, _ := st.Users(ctx)
		st.Close()
		if !slices.Equal(us, []string{want}) {
			t.Fatalf("shard %s holds %v, want %s", name, us, want)
		}
	}
	if _, err := New(s.hub, s.shards, "a", map[string]string{"carol": "nowhere"}); err == nil {
		t.Fatal("a directory naming an unknown shard was accepted")
	}
}

// TestMoveUser moves bob from shard a to shard b while a handle on the
// old copy is open: every mailbox keeps its id, UIDVALIDITY, UIDs, flags
// and modseqs (a QRESYNC from before the move is answered exactly), the
// directory table sends every front end (a second sharded store, standing
// in for another node) to b, the old copy is gone, and the handle opened
// before the move finds its user deleted. bob's ACL entries and URLAUTH
// keys move with him.
func TestMoveUser(t *testing.T) {
	s, dsns := twoClusters(t, storetest.Options{})
	if err := s.CreateUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	old, err := s.Open(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	inbox, _ := old.Mailbox(ctx, "INBOX")
	work, err := old.CreateMailbox(ctx, "Work/2026", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		body := "Subject: m\r\nMessage-ID: <m" + string(rune('a'+i)) + "@x>\r\n\r\nbody\r\n"
		if _, err := old.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader(body)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := old.Copy(ctx, inbox.ID, work.ID, store.UIDSetOf(1, 2)); err != nil {
		t.Fatal(err)
	}
	if err := old.SetSubscribed(ctx, "Work/2026", true); err != nil {
		t.Fatal(err)
	}
	if _, err := old.SetFlags(ctx, inbox.ID, store.UIDSetOf(2, 3), store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Expunge(ctx, inbox.ID, store.UIDSetOf(4)); err != nil {
		t.Fatal(err)
	}
	// bob shares Work/2026 with carol and has a URLAUTH key for INBOX.
	if err := s.CreateUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	acl, err := s.OpenACL(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := acl.SetACL(ctx, work.ID, "carol", "lr"); err != nil {
		t.Fatal(err)
	}
	acl.Close()
	keys, err := s.OpenAccessKeys(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	key, err := keys.AccessKey(ctx, inbox.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	keys.Close()
	cached := mustStatus(t, old, "INBOX")
	if _, err := old.SetFlags(ctx, inbox.ID, store.UIDSetOf(1), store.FlagsAdd, store.Flags{Keywords: []string{"later"}}, 0); err != nil {
		t.Fatal(err)
	}
	before := map[string]store.Snapshot{}
	for _, name := range []string{"INBOX", "Work/2026"} {
		m := mustStatus(t, old, name)
		snap, err := old.Snapshot(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		before[name] = snap
	}

	st, err := s.Move(ctx, "bob", "b", MoveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.From != "a" || st.To != "b" || st.Mailboxes != 3 || st.Copied.Appends != 6 || st.Copied.Bodies != 4 {
		t.Fatalf("move: %+v", st)
	}
	if sh, err := s.ShardOf(ctx, "bob"); err != nil || sh != "b" {
		t.Fatalf("bob on %q, %v", sh, err)
	}
	// Another front end, whose configuration still knows nothing of the
	// move, finds bob on b.
	other := reopen(t, dsns)
	if sh, err := other.ShardOf(ctx, "Bob"); err != nil || sh != "b" {
		t.Fatalf("another node puts bob on %q, %v", sh, err)
	}
	moved, err := other.Open(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	defer moved.Close()
	for name, want := range before {
		m := mustStatus(t, moved, name)
		got, err := moved.Snapshot(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Mailbox.GUID != want.Mailbox.GUID || got.Mailbox.UIDValidity != want.Mailbox.UIDValidity ||
			got.Mailbox.UIDNext != want.Mailbox.UIDNext || got.Mailbox.HighestModSeq != want.Mailbox.HighestModSeq ||
			!slices.EqualFunc(got.Messages, want.Messages, func(x, y store.MessageState) bool {
				return x.UID == y.UID && x.ModSeq == y.ModSeq && x.Flags.Equal(y.Flags)
			}) {
			t.Fatalf("%s after the move:\n%+v\nbefore:\n%+v", name, got, want)
		}
	}
	ch, err := moved.ChangesSince(ctx, cached.ID, cached.HighestModSeq)
	if err != nil || len(ch.Changed) != 1 || ch.Changed[0].UID != 1 || !ch.Vanished.Empty() || !ch.Exact {
		t.Fatalf("resync from before the move: %+v, %v", ch, err)
	}
	if subs, _ := moved.Subscriptions(ctx); !slices.Equal(subs, []string{"Work/2026"}) {
		t.Fatalf("subscriptions %v", subs)
	}
	// The ACL and the key moved with the mail.
	movedWork := mustStatus(t, moved, "Work/2026")
	if gs, err := other.Grants(ctx, []string{"carol"}); err != nil || len(gs) != 1 || gs[0].Owner != "bob" ||
		gs[0].Mailbox != movedWork.ID || gs[0].Rights != "lr" {
		t.Fatalf("carol's grants after the move: %+v, %v", gs, err)
	}
	movedKeys, err := other.OpenAccessKeys(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	defer movedKeys.Close()
	if got, err := movedKeys.AccessKey(ctx, mustStatus(t, moved, "INBOX").ID, false); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("INBOX key after the move %x, before %x, %v", got, key, err)
	}
	// The old copy is gone; its handle says so.
	a, err := pgstore.Open(ctx, dsns["a"], pgstore.Options{NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if us, _ := a.Users(ctx); slices.Contains(us, "bob") {
		t.Fatalf("shard a still holds %v", us)
	}
	_, err = old.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader("Subject: x\r\n\r\nx\r\n")}})
	if !errors.Is(err, store.ErrUserDeleted) {
		t.Fatalf("write through a handle on the old copy: %v", err)
	}
	if us, _ := s.Users(ctx); !slices.Equal(us, []string{"bob", "carol"}) {
		t.Fatalf("users %v", us)
	}
	if probs, err := other.Check(ctx, "bob"); err != nil || len(probs) != 0 {
		t.Fatalf("check of the moved user: %v, %v", probs, err)
	}
	// Moving again to where it is, or to nowhere, is refused.
	if _, err := s.Move(ctx, "bob", "b", MoveOptions{}); !errors.Is(err, store.ErrCannot) {
		t.Fatalf("move to the same shard: %v", err)
	}
	if _, err := s.Move(ctx, "bob", "z", MoveOptions{}); !errors.Is(err, store.ErrCannot) {
		t.Fatalf("move to an unknown shard: %v", err)
	}
}

// TestMoveFence: while the fence is up, the user's writes fail with a
// temporary error on every node, except the mover's.
func TestMoveFence(t *testing.T) {
	s, _ := twoClusters(t, storetest.Options{})
	if err := s.CreateUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	a, _ := s.Open(ctx, "bob")
	defer a.Close()
	inbox, _ := a.Mailbox(ctx, "INBOX")
	pg := s.shards["a"].(*pgstore.Store)
	if err := pg.SetMoving(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	msg := func() []store.NewMessage {
		return []store.NewMessage{{Body: strings.NewReader("Subject: x\r\n\r\nx\r\n")}}
	}
	if _, err := a.Append(ctx, inbox.ID, msg()); !errors.Is(err, pgstore.ErrUserMoving) || !errors.Is(err, store.ErrIO) {
		t.Fatalf("append while fenced: %v", err)
	}
	if _, err := a.Append(pg.MoverContext(ctx), inbox.ID, msg()); err != nil {
		t.Fatalf("the mover's append: %v", err)
	}
	if err := pg.SetMoving(ctx, "bob", false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, inbox.ID, msg()); err != nil {
		t.Fatalf("append after the fence: %v", err)
	}
}

func mustStatus(t *testing.T, a store.Account, name string) store.MailboxInfo {
	t.Helper()
	m, err := a.Mailbox(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// reopen opens a second sharded store over the same databases, with the
// configuration's directory of twoClusters.
func reopen(t *testing.T, dsns map[string]string) *Store {
	t.Helper()
	hub := store.NewHub()
	shards := map[string]store.Store{}
	for name, dsn := range dsns {
		st, err := pgstore.Open(ctx, dsn, pgstore.Options{Hub: hub, NoListen: true})
		if err != nil {
			t.Fatal(err)
		}
		shards[name] = st
	}
	s, err := New(hub, shards, "a", map[string]string{"alice": "b"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
