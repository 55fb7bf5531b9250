package metrics

import (
	"context"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// The timing wrapper must not hide the store's Replica: migration writes
// through it on a server that has metrics on.
func TestWrapStorePassesReplica(t *testing.T) {
	ctx := context.Background()
	raw, err := sqlitestore.Open(t.TempDir(), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	m := New()
	st := m.WrapStore(raw)
	r, err := st.OpenReplica(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok := r.(*sqlitestore.Replica); !ok {
		t.Fatalf("OpenReplica through the wrapper gave %T", r)
	}
	mb, err := r.CreateMailbox(ctx, "copy", 99, store.CreateOptions{})
	if err != nil || mb.UIDValidity != 99 {
		t.Fatalf("%+v, %v", mb, err)
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	timed := false
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				timed = timed || f.GetName() == "tidemark_store_call_duration_seconds" && l.GetValue() == "open_replica"
			}
		}
	}
	if !timed {
		t.Fatal("opening the replica was not timed")
	}
	if _, err := st.OpenReplica(ctx, "nobody"); err == nil || !strings.Contains(err.Error(), "no such user") {
		t.Fatalf("unknown user: %v", err)
	}
}
