package store

import "testing"

// An account watcher hears every mailbox of its user, and AccountID, with
// the highest modseq each was published at; other users' publications
// never reach it; Close forgets it.
func TestAccountWatcher(t *testing.T) {
	h := NewHub()
	w := h.WatchAccount("alice")
	box := h.Watch("alice", 7) // a mailbox watcher alongside
	h.Publish("alice", 7, 3)
	h.Publish("alice", 7, 5)
	h.Publish("alice", 7, 4) // late: the mailbox watcher ignores it
	h.Publish("alice", 9, 2) // nobody watches 9 itself
	h.Publish("alice", AccountID, 0)
	h.Publish("bob", 7, 10)
	select {
	case <-w.C:
	default:
		t.Fatal("account watcher not woken")
	}
	p := w.Take()
	want := []AccountChange{{7, 5}, {9, 2}, {AccountID, 0}}
	if len(p) != len(want) || p[0] != want[0] || p[1] != want[1] || p[2] != want[2] {
		t.Fatalf("Take = %v, want %v (in order of first publication)", p, want)
	}
	if p := w.Take(); p != nil {
		t.Fatalf("second Take = %v", p)
	}
	if box.Generation() != 2 {
		t.Fatalf("mailbox watcher generation %d, want 2", box.Generation())
	}
	w.Close()
	w.Close()
	if h.AccountsWatched() != 0 {
		t.Fatal("closed account watcher still known")
	}
	box.Close()
	if h.Watched() != 0 {
		t.Fatal("mailbox watcher still known")
	}
}
