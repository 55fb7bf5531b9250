package quota

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func newManager(t *testing.T, file string, now time.Time) *Manager {
	t.Helper()
	m, err := New(nil, Config{OverridesFile: file})
	if err != nil {
		t.Fatal(err)
	}
	m.now = func() time.Time { return now }
	return m
}

func swap(t *testing.T, a, b *Manager) {
	t.Helper()
	oa, ob := a.Overrides(), b.Overrides()
	if _, err := a.ApplyOverrides(ob); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ApplyOverrides(oa); err != nil {
		t.Fatal(err)
	}
}

// TestOverridesReplicate: a SETQUOTA on one manager applies on the other,
// durably; concurrent ones settle alike on both; a change made after
// seeing another wins even with a clock behind; stale ones are ignored.
func TestOverridesReplicate(t *testing.T) {
	dir := t.TempDir()
	fa, fb := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	t0 := time.Unix(1_700_000_000, 0)
	a, b := newManager(t, fa, t0), newManager(t, fb, t0)
	if err := a.SetQuotaLimits("Alice", 1000, 10); err != nil {
		t.Fatal(err)
	}
	swap(t, a, b)
	if l := b.Limits("alice"); l != (Limits{StorageBytes: 1000, Messages: 10}) {
		t.Fatalf("B: %+v", l)
	}
	// Durable on B: a new manager on its file has it, with its stamp.
	if l := newManager(t, fb, t0).Limits("alice"); l.StorageBytes != 1000 {
		t.Fatalf("B reopened: %+v", l)
	}
	// Both change at the same stamp: the larger limits win on both.
	if err := a.SetQuotaLimits("alice", 5, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.SetQuotaLimits("alice", 7, 0); err != nil {
		t.Fatal(err)
	}
	swap(t, a, b)
	if la, lb := a.Limits("alice"), b.Limits("alice"); la != lb || la.StorageBytes != 7 {
		t.Fatalf("did not converge: %+v %+v", la, lb)
	}
	// A's clock an hour behind: its change after seeing B's wins.
	old := a.Overrides()
	a.now = func() time.Time { return t0.Add(-time.Hour) }
	if err := a.SetQuotaLimits("alice", 3, 3); err != nil {
		t.Fatal(err)
	}
	swap(t, a, b)
	if l := b.Limits("alice"); l != (Limits{StorageBytes: 3, Messages: 3}) {
		t.Fatalf("later change lost: %+v", l)
	}
	if n, err := b.ApplyOverrides(old); err != nil || n != 0 {
		t.Fatalf("stale override applied: %d %v", n, err)
	}
	if _, err := b.ApplyOverrides([]Override{{User: "Not Valid", Stamp: 1}}); err == nil {
		t.Fatal("invalid user applied")
	}
}

// TestOverridesOldFile: a file written before stamps existed still loads;
// its overrides have stamp 0 and lose to any replicated one.
func TestOverridesOldFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "q.json")
	if err := os.WriteFile(f, []byte(`{"bob": {"storage_bytes": 100, "messages": 2}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, f, time.Unix(1_700_000_000, 0))
	if l := m.Limits("bob"); l != (Limits{StorageBytes: 100, Messages: 2}) {
		t.Fatalf("old file: %+v", l)
	}
	if n, err := m.ApplyOverrides([]Override{{User: "bob", Limits: Limits{Messages: 9}, Stamp: 1}}); err != nil || n != 1 {
		t.Fatalf("apply over an unstamped override: %d %v", n, err)
	}
	if l := m.Limits("bob"); l != (Limits{Messages: 9}) {
		t.Fatalf("after apply: %+v", l)
	}
}
