package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// testProgress: a backend that reports progress from inside SetFlags,
// Copy and Move (store.WithProgress) reports each multiple of the pace
// once, in increasing order, never past the messages of the call; one
// that reports nothing is allowed. Either way the call's result is whole.
func testProgress(t *testing.T, be Backend) {
	_, a := be.newAccount(t)
	inbox := MustMailbox(t, a, "INBOX")
	AppendN(t, a, inbox.ID, 25, store.Flags{})
	dst, err := a.CreateMailbox(ctx, "Archive", store.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []int
	tracked := store.WithProgress(ctx, 10, func(done int) {
		mu.Lock()
		got = append(got, done)
		mu.Unlock()
	})
	check := func(what string, n int, call func(context.Context) error) {
		t.Helper()
		mu.Lock()
		got = nil
		mu.Unlock()
		if err := call(tracked); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		mu.Lock()
		defer mu.Unlock()
		var want []int
		for d := 10; d <= n; d += 10 {
			want = append(want, d)
		}
		if len(got) != 0 && !slices.Equal(got, want) {
			t.Errorf("%s over %d messages reported %v, want %v or nothing", what, n, got, want)
		}
	}
	all := store.UIDSet{{Start: 1, Stop: 25}}
	check("SetFlags", 25, func(ctx context.Context) error {
		res, err := a.SetFlags(ctx, inbox.ID, all, store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0)
		if err == nil && len(res.Changed) != 25 {
			t.Errorf("SetFlags changed %d", len(res.Changed))
		}
		return err
	})
	check("Copy", 25, func(ctx context.Context) error {
		res, err := a.Copy(ctx, inbox.ID, dst.ID, all)
		if err == nil && len(res.DstUIDs) != 25 {
			t.Errorf("Copy copied %d", len(res.DstUIDs))
		}
		return err
	})
	check("Move", 20, func(ctx context.Context) error {
		res, err := a.Move(ctx, inbox.ID, dst.ID, store.UIDSet{{Start: 1, Stop: 20}})
		if err == nil && len(res.DstUIDs) != 20 {
			t.Errorf("Move moved %d", len(res.DstUIDs))
		}
		return err
	})
}
