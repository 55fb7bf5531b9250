package view

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/sqlitestore"
	"github.com/tidemark-mail/tidemark/internal/store"
	"github.com/tidemark-mail/tidemark/internal/wire"
)

func msg(uid store.UID, modseq store.ModSeq, kw ...string) store.MessageState {
	return store.MessageState{UID: uid, ModSeq: modseq, Flags: store.Flags{Keywords: kw}}
}

func snapshot(modseq store.ModSeq, uids ...store.UID) store.Snapshot {
	s := store.Snapshot{Mailbox: store.MailboxInfo{ID: 1, HighestModSeq: modseq}}
	for _, u := range uids {
		s.Messages = append(s.Messages, msg(u, 1))
	}
	return s
}

func describe(ups []Update) string {
	var out []string
	for _, u := range ups {
		switch u.Kind {
		case UpdateExpunge:
			out = append(out, fmt.Sprintf("EXPUNGE %d", u.Seq))
		case UpdateVanished:
			out = append(out, "VANISHED "+u.UIDs.String())
		case UpdateFlagList:
			out = append(out, "FLAGS "+strings.Join(u.Keywords, " "))
		case UpdateExists:
			out = append(out, fmt.Sprintf("EXISTS %d", u.Count))
		case UpdateFetch:
			out = append(out, fmt.Sprintf("FETCH %d uid %d", u.Seq, u.Msg.UID))
		}
	}
	return strings.Join(out, "; ")
}

func TestApply(t *testing.T) {
	for _, tc := range []struct {
		name string
		ch   store.Changes
		opts SyncOptions
		want string
		uids []store.UID // the view's sequence map afterwards
	}{
		{"nothing", store.Changes{Mailbox: store.MailboxInfo{HighestModSeq: 5}}, SyncOptions{AllowExpunge: true}, "", []store.UID{2, 4, 6, 8}},
		{"expunges highest first",
			store.Changes{Mailbox: store.MailboxInfo{HighestModSeq: 6}, Vanished: store.UIDSet{{Start: 3, Stop: 4}, {Start: 8, Stop: 9}}},
			SyncOptions{AllowExpunge: true}, "EXPUNGE 4; EXPUNGE 2", []store.UID{2, 6}},
		{"vanished under QRESYNC, only known UIDs",
			store.Changes{Mailbox: store.MailboxInfo{HighestModSeq: 6}, Vanished: store.UIDSet{{Start: 1, Stop: 5}}},
			SyncOptions{AllowExpunge: true, QResync: true}, "VANISHED 2,4", []store.UID{6, 8}},
		{"held expunge keeps its number, EXISTS and FETCH still go out",
			store.Changes{Mailbox: store.MailboxInfo{HighestModSeq: 7}, Vanished: store.UIDSetOf(4),
				Changed: []store.MessageState{msg(6, 7, "a"), msg(10, 7)}},
			SyncOptions{}, "FLAGS a; EXISTS 5; FETCH 3 uid 6", []store.UID{2, 4, 6, 8, 10}},
		{"appended and expunged between syncs: never shown",
			store.Changes{Mailbox: store.MailboxInfo{HighestModSeq: 7}, Vanished: store.UIDSetOf(9)},
			SyncOptions{AllowExpunge: true}, "", []store.UID{2, 4, 6, 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := New(snapshot(5, 2, 4, 6, 8), false)
			got := describe(v.Apply(tc.ch, tc.opts))
			if got != tc.want {
				t.Fatalf("updates %q, want %q", got, tc.want)
			}
			if !slices.Equal(v.uids.Slice(), tc.uids) {
				t.Fatalf("sequence map %v, want %v", v.uids.Slice(), tc.uids)
			}
			if v.ShownModSeq() != tc.ch.Mailbox.HighestModSeq {
				t.Fatalf("shown modseq %d", v.ShownModSeq())
			}
		})
	}
}

func TestHeldExpungeReleasedLater(t *testing.T) {
	v := New(snapshot(5, 2, 4, 6), false)
	v.Apply(store.Changes{Mailbox: store.MailboxInfo{HighestModSeq: 6}, Vanished: store.UIDSetOf(4)}, SyncOptions{})
	if !v.Expunged(4) || v.Exists() != 3 {
		t.Fatalf("held: expunged=%v exists=%d", v.Expunged(4), v.Exists())
	}
	got := describe(v.Apply(store.Changes{Mailbox: store.MailboxInfo{HighestModSeq: 6}}, SyncOptions{AllowExpunge: true}))
	if got != "EXPUNGE 2" || v.Exists() != 2 || v.Expunged(4) {
		t.Fatalf("release: %q exists=%d", got, v.Exists())
	}
}

func TestMarkReported(t *testing.T) {
	v := New(snapshot(5, 2, 4), false)
	v.MarkReported(4, 6)
	got := describe(v.Apply(store.Changes{Mailbox: store.MailboxInfo{HighestModSeq: 7},
		Changed: []store.MessageState{msg(2, 7), msg(4, 6)}}, SyncOptions{AllowExpunge: true}))
	if got != "FETCH 1 uid 2" {
		t.Fatalf("updates %q", got)
	}
}

func TestSetResolution(t *testing.T) {
	v := New(snapshot(5, 2, 4, 5, 9), false)
	seq := func(s ...wire.SeqRange) wire.SeqSet { return wire.SeqSet{Ranges: s} }
	for _, tc := range []struct {
		set  wire.SeqSet
		want string
		err  bool
	}{
		{seq(wire.SeqRange{Start: 1, Stop: wire.Star}), "2,4:5,9", false},
		{seq(wire.SeqRange{Start: 2, Stop: 3}), "4:5", false},
		{seq(wire.SeqRange{Start: wire.Star, Stop: wire.Star}), "9", false},
		{seq(wire.SeqRange{Start: 5, Stop: 5}), "", true},
	} {
		got, err := v.SeqSetUIDs(tc.set)
		if (err != nil) != tc.err || got.String() != tc.want {
			t.Errorf("seq %s: %q %v", tc.set, got, err)
		}
	}
	if got := v.UIDSetUIDs(seq(wire.SeqRange{Start: 3, Stop: wire.Star})).String(); got != "3:9" {
		t.Errorf("UID 3:* = %q", got)
	}
	if got := v.UIDSetUIDs(seq(wire.SeqRange{Start: 20, Stop: 30}, wire.SeqRange{Start: 1, Stop: 2})).String(); got != "1:2" {
		t.Errorf("UIDs beyond the view: %q", got)
	}
	if got := v.UIDSetUIDs(seq(wire.SeqRange{Start: 20, Stop: wire.Star})).String(); got != "9" {
		t.Errorf("UID 20:* = %q (must include the highest UID)", got)
	}
	empty := New(snapshot(1), false)
	if got, err := empty.SeqSetUIDs(seq(wire.SeqRange{Start: 1, Stop: wire.Star})); err != nil || !got.Empty() {
		t.Errorf("1:* of an empty mailbox: %v %v", got, err)
	}

	// In a search key, numbers past the end name nothing (no error).
	for _, tc := range []struct {
		set  wire.SeqSet
		want string
	}{
		{seq(wire.SeqRange{Start: 5, Stop: 5}), ""},
		{seq(wire.SeqRange{Start: 3, Stop: 1000}), "5,9"},
		{seq(wire.SeqRange{Start: 1000, Stop: wire.Star}), "9"},
		{seq(wire.SeqRange{Start: 1, Stop: 1}, wire.SeqRange{Start: 7, Stop: 8}), "2"},
	} {
		if got := v.SearchSeqSetUIDs(tc.set).String(); got != tc.want {
			t.Errorf("search seq %s: %q, want %q", tc.set, got, tc.want)
		}
	}
	if got := empty.SearchSeqSetUIDs(seq(wire.SeqRange{Start: 1, Stop: wire.Star})); !got.Empty() {
		t.Errorf("search 1:* of an empty mailbox: %v", got)
	}

	// CountIn counts the view's messages in a UID set.
	for _, tc := range []struct {
		set  store.UIDSet
		want uint32
	}{
		{nil, 0},
		{store.UIDSet{{Start: 1, Stop: 3}}, 1},
		{store.UIDSet{{Start: 4, Stop: 9}}, 3},
		{store.UIDSet{{Start: 1, Stop: 2}, {Start: 5, Stop: 100}}, 3},
		{store.UIDSet{{Start: 10, Stop: 20}}, 0},
	} {
		if got := v.CountIn(tc.set); got != tc.want {
			t.Errorf("CountIn(%v) = %d, want %d", tc.set, got, tc.want)
		}
	}
}

// TestSyncWithStore runs the view against a real store.
func TestSyncWithStore(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(t.TempDir(), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateUser(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	a, err := st.Open(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	mb, _ := a.Mailbox(ctx, "INBOX")
	add := func(n int) store.AppendResult {
		var msgs []store.NewMessage
		for i := 0; i < n; i++ {
			msgs = append(msgs, store.NewMessage{Body: strings.NewReader("Subject: x\r\n\r\nx\r\n")})
		}
		r, err := a.Append(ctx, mb.ID, msgs)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	add(3)
	snap, err := a.Snapshot(ctx, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	v := New(snap, false)
	r := add(2)
	if _, err := a.SetFlags(ctx, mb.ID, store.UIDSetOf(1), store.FlagsAdd, store.Flags{System: store.FlagSeen}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Expunge(ctx, mb.ID, store.UIDSetOf(2, r.UIDs[0])); err != nil {
		t.Fatal(err)
	}
	ups, err := v.Sync(ctx, a, SyncOptions{AllowExpunge: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(ups); got != "EXPUNGE 2; EXISTS 3; FETCH 1 uid 1" {
		t.Fatalf("updates %q", got)
	}
	if !slices.Equal(v.uids.Slice(), []store.UID{1, 3, r.UIDs[1]}) {
		t.Fatalf("sequence map %v", v.uids.Slice())
	}
	if ups, _ := v.Sync(ctx, a, SyncOptions{AllowExpunge: true}); len(ups) != 0 {
		t.Fatalf("second sync repeated %q", describe(ups))
	}
}

// TestKeywordListNotShared: views built from one keyword list (the open
// mailbox gives every SELECT the same one) must not write into it.
func TestKeywordListNotShared(t *testing.T) {
	shared := make([]string, 1, 8)
	shared[0] = "b"
	v1 := NewFromUIDs(store.MailboxInfo{HighestModSeq: 1}, []store.UID{1}, shared, false)
	v2 := NewFromUIDs(store.MailboxInfo{HighestModSeq: 1}, []store.UID{1}, shared, false)
	v1.Apply(store.Changes{Mailbox: store.MailboxInfo{HighestModSeq: 2}, Changed: []store.MessageState{msg(1, 2, "a")}}, SyncOptions{})
	if !slices.Equal(shared[:cap(shared)][:2], []string{"b", ""}) || !slices.Equal(v2.Keywords(), []string{"b"}) {
		t.Fatalf("shared list changed: %q, other view %q", shared[:2], v2.Keywords())
	}
}
