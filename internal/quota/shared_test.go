package quota

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/pgstore"
	"github.com/tidemark-mail/tidemark/internal/pgtest"
	"github.com/tidemark-mail/tidemark/internal/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestSharedOverrides: two front ends (two managers, each over its own
// connection pool to one PostgreSQL store) see the same SETQUOTA limits:
// one set on either applies on the other at once, survives a restart,
// replicates from either, and no local file is written.
func TestSharedOverrides(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	open := func() *pgstore.Store {
		s, err := pgstore.Open(ctx, dsn, pgstore.Options{NoListen: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	s1, s2 := open(), open()
	if err := s1.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	newManager := func(s *pgstore.Store, file string) *Manager {
		m, err := New(s, Config{Default: Limits{Messages: 100}, Admins: []string{"root"},
			OverridesFile: filepath.Join(dir, file), Shared: s})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m1, m2 := newManager(s1, "1.json"), newManager(s2, "2.json")
	if err := m1.SetQuotaLimits("Alice", 0, 1); err != nil {
		t.Fatal(err)
	}
	if l := m2.Limits("alice"); l.Messages != 1 {
		t.Fatalf("the other front end's limits: %+v", l)
	}
	a, _ := s1.Open(ctx, "alice")
	defer a.Close()
	inbox, _ := a.Mailbox(ctx, "INBOX")
	if _, err := a.Append(ctx, inbox.ID, []store.NewMessage{{Body: strings.NewReader("Subject: x\r\n\r\nx\r\n")}}); err != nil {
		t.Fatal(err)
	}
	if err := m2.CheckQuota(ctx, "alice", 10, 1); !errors.Is(err, store.ErrOverQuota) {
		t.Fatalf("check on the other front end: %v", err)
	}
	// A later change on the second front end wins on the first.
	if err := m2.SetQuotaLimits("alice", 0, 50); err != nil {
		t.Fatal(err)
	}
	if l := m1.Limits("alice"); l.Messages != 50 {
		t.Fatalf("first front end after the second's change: %+v", l)
	}
	if got := m1.Overrides(); len(got) != 1 || got[0].Messages != 50 {
		t.Fatalf("overrides for replication: %+v", got)
	}
	// A restarted front end reads them from the store.
	if l := newManager(s1, "3.json").Limits("alice"); l.Messages != 50 {
		t.Fatalf("after a restart: %+v", l)
	}
	// A peer's newer override, applied through one, holds on both.
	peer := Override{User: "alice", Limits: Limits{Messages: 7}, Stamp: m1.Clock() + 1}
	if n, err := m2.ApplyOverrides([]Override{peer}); err != nil || n != 1 {
		t.Fatalf("apply: %d, %v", n, err)
	}
	if l := m1.Limits("alice"); l.Messages != 7 {
		t.Fatalf("first front end after a replicated change: %+v", l)
	}
	for _, f := range []string{"1.json", "2.json", "3.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Fatalf("%s written with shared overrides: %v", f, err)
		}
	}
}
