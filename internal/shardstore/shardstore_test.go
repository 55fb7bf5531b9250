package shardstore

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/pgstore"
	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

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
