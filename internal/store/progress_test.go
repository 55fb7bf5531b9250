package store

import (
	"context"
	"slices"
	"testing"
)

func TestTracker(t *testing.T) {
	if TrackProgress(context.Background()) != nil {
		t.Fatal("a tracker without a hook")
	}
	var nilTracker *Tracker
	nilTracker.Step() // does nothing
	var got []int
	ctx := WithProgress(context.Background(), 3, func(done int) { got = append(got, done) })
	tr := TrackProgress(ctx)
	for range 7 {
		tr.Step()
	}
	tr.Restart()
	for range 4 {
		tr.Step()
	}
	if want := []int{3, 6, 3}; !slices.Equal(got, want) {
		t.Fatalf("reports %v, want %v", got, want)
	}
	if WithProgress(context.Background(), 0, func(int) {}) != context.Background() {
		t.Fatal("a pace of 0 installed a hook")
	}
}
