package storetest

import (
	"maps"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// testFlagStamps: flag stamps (store.FlagStamps). Before a mailbox is
// synced a client's change stamps nothing; after, each flag it changes
// takes its modseq, the others keep theirs; a peer's flags and appends
// take exactly the stamps given (none: all dropped); an unchanged message
// keeps its stamps; an expunged message's stamps go with it.
func testFlagStamps(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	inbox := MustMailbox(t, a, "INBOX")
	AppendN(t, a, inbox.ID, 3, store.Flags{System: store.FlagAnswered})
	stamps := func() map[store.UID]store.FlagStamps {
		t.Helper()
		rd, err := r.ReadRound(ctx, inbox.ID, 0, store.UIDSetOf(1, 2, 3, 4, 5, 6))
		if err != nil {
			t.Fatal(err)
		}
		return rd.Stamps
	}
	set := func(uids store.UIDSet, op store.FlagOp, f store.Flags) store.ModSeq {
		t.Helper()
		res, err := a.SetFlags(ctx, inbox.ID, uids, op, f, 0)
		if err != nil {
			t.Fatal(err)
		}
		return res.ModSeq
	}
	set(store.UIDSetOf(1), store.FlagsAdd, store.Flags{System: store.FlagSeen})
	if st := stamps(); len(st) != 0 {
		t.Fatalf("stamps before any sync: %v", st)
	}
	if _, err := r.Apply(ctx, inbox.ID, store.Batch{KeepHistory: true}); err != nil {
		t.Fatal(err)
	}
	ms1 := set(store.UIDSetOf(1, 2), store.FlagsAdd, store.Flags{System: store.FlagFlagged, Keywords: []string{"Work"}})
	ms2 := set(store.UIDSetOf(1), store.FlagsReplace, store.Flags{System: store.FlagFlagged | store.FlagSeen, Keywords: []string{"WORK", "todo"}})
	set(store.UIDSetOf(2), store.FlagsAdd, store.Flags{System: store.FlagFlagged}) // already so
	want := map[store.UID]store.FlagStamps{
		// \Seen stayed, "work" only changed case: neither changed.
		1: {`\flagged`: ms1, "work": ms1, `\answered`: ms2, "todo": ms2},
		2: {`\flagged`: ms1, "work": ms1},
	}
	if got := stamps(); !stampsEqual(got, want) {
		t.Fatalf("after client changes: %v, want %v", got, want)
	}

	// A peer's changes: flags with stamps, flags without (an earlier
	// version), an append with stamps, flags already so.
	peer := ms2 + 10
	_, err := r.Apply(ctx, inbox.ID, store.Batch{
		Flags: []store.MessageState{
			{UID: 1, ModSeq: peer, Flags: store.Flags{System: store.FlagSeen}},
			{UID: 2, ModSeq: peer, Flags: store.Flags{Keywords: []string{"Work"}}},
			{UID: 3, ModSeq: peer, Flags: store.Flags{System: store.FlagAnswered}},
		},
		Append: []store.ReplicaMessage{replicaMessage(4, peer, MessageText(4, ""), store.Flags{Keywords: []string{"x"}})},
		Stamps: map[store.UID]store.FlagStamps{
			1: {`\flagged`: peer - 1, "work": 3, "todo": peer},
			3: {`\answered`: 99},
			4: {"x": 5},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want = map[store.UID]store.FlagStamps{
		1: {`\flagged`: peer - 1, "work": 3, "todo": peer},
		4: {"x": 5},
	}
	if got := stamps(); !stampsEqual(got, want) {
		t.Fatalf("after a peer's changes: %v, want %v", got, want)
	}

	// Expunged: its stamps go; a later message at a new UID has none.
	if _, err := a.Expunge(ctx, inbox.ID, store.UIDSetOf(1)); err != nil {
		t.Fatal(err)
	}
	delete(want, 1)
	if got := stamps(); !stampsEqual(got, want) {
		t.Fatalf("after expunge: %v, want %v", got, want)
	}
}

func stampsEqual(a, b map[store.UID]store.FlagStamps) bool {
	return maps.EqualFunc(a, b, func(x, y store.FlagStamps) bool { return maps.Equal(x, y) })
}

// testFlagStampsBulk: STOREs over hundreds of messages of a synced
// mailbox (across message gaps and, on the embedded store, chunks) leave
// exactly the stamps and flag history a message-by-message reading of the
// change gives: each flag that changed on a message takes the change's
// modseq, every other stamp stays; adds, removes and replacements, system
// flags alone and with keywords (in another case than stored), and
// UNCHANGEDSINCE that some messages fail. The expectations come from a
// model kept here, flag by flag.
func testFlagStampsBulk(t *testing.T, be Backend) {
	s, a := be.newAccount(t)
	r := newReplica(t, s)
	inbox := MustMailbox(t, a, "INBOX")
	const n = 600
	initial := func(u store.UID) store.Flags {
		var f store.Flags
		if u%3 == 0 && u < 100 || u == 230 {
			f.System |= store.FlagSeen
		}
		if u%5 == 0 {
			f.Keywords = append(f.Keywords, "Work")
		}
		if u%7 == 0 {
			f.System |= store.FlagFlagged
			f.Keywords = append(f.Keywords, "todo")
		}
		return f
	}
	var msgs []store.NewMessage
	for u := store.UID(1); u <= n; u++ {
		msgs = append(msgs, store.NewMessage{Body: strings.NewReader(MessageText(int(u), "")), Flags: initial(u)})
	}
	if _, err := a.Append(ctx, inbox.ID, msgs); err != nil {
		t.Fatal(err)
	}
	// Gaps: runs of changed messages span UIDs no message has.
	gone := store.UIDSet{{Start: 50, Stop: 59}, {Start: 420, Stop: 421}}
	if _, err := a.Expunge(ctx, inbox.ID, gone); err != nil {
		t.Fatal(err)
	}
	type message struct {
		names  map[string]bool // flag names (lowercase) it has
		modseq store.ModSeq
		stamps store.FlagStamps
		synced map[string]bool // its flags at the sync point
	}
	model := map[store.UID]*message{}
	nameSet := func(f store.Flags) map[string]bool {
		m := map[string]bool{}
		for bit, name := range map[store.SystemFlags]string{store.FlagSeen: `\seen`, store.FlagAnswered: `\answered`,
			store.FlagFlagged: `\flagged`, store.FlagDeleted: `\deleted`, store.FlagDraft: `\draft`} {
			if f.System&bit != 0 {
				m[name] = true
			}
		}
		for _, k := range f.Keywords {
			m[strings.ToLower(k)] = true
		}
		return m
	}
	snap, err := a.Snapshot(ctx, inbox.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range snap.Messages {
		model[m.UID] = &message{names: nameSet(initial(m.UID)), modseq: m.ModSeq}
	}
	if len(model) != n-12 {
		t.Fatalf("%d messages", len(model))
	}
	if _, err := r.Apply(ctx, inbox.ID, store.Batch{KeepHistory: true}); err != nil {
		t.Fatal(err)
	}
	syncPoint := MustMailbox(t, a, "INBOX").HighestModSeq
	all := store.UIDSet{{Start: 1, Stop: n}}

	check := func(step string) {
		t.Helper()
		rd, err := r.ReadRound(ctx, inbox.ID, 0, all)
		if err != nil {
			t.Fatal(err)
		}
		want := map[store.UID]store.FlagStamps{}
		for u, m := range model {
			if len(m.stamps) > 0 {
				want[u] = m.stamps
			}
		}
		if !stampsEqual(rd.Stamps, want) {
			for u := store.UID(1); u <= n; u++ {
				if !maps.Equal(rd.Stamps[u], want[u]) {
					t.Fatalf("%s: UID %d has stamps %v, want %v", step, u, rd.Stamps[u], want[u])
				}
			}
			t.Fatalf("%s: stamps differ", step)
		}
		at, err := r.FlagsAt(ctx, inbox.ID, all, syncPoint)
		if err != nil {
			t.Fatal(err)
		}
		for u, m := range model {
			f, ok := at[u]
			if (m.synced != nil) != ok {
				t.Fatalf("%s: UID %d flags at the sync point known: %v, want %v", step, u, ok, m.synced != nil)
			}
			if ok && !maps.Equal(nameSet(f), m.synced) {
				t.Fatalf("%s: UID %d had %v at the sync point, history says %v", step, u, m.synced, f)
			}
		}
	}
	store_ := func(step string, uids store.UIDSet, op store.FlagOp, change store.Flags, since store.ModSeq) store.ModSeq {
		t.Helper()
		res, err := a.SetFlags(ctx, inbox.ID, uids, op, change, since)
		if err != nil {
			t.Fatal(err)
		}
		reported := map[store.UID]store.Flags{}
		for _, m := range res.Changed {
			reported[m.UID] = m.Flags
		}
		ch := nameSet(change)
		for u, m := range model {
			if !uids.Contains(u) {
				continue
			}
			if since != 0 && m.modseq > since {
				if !res.Modified.Contains(u) {
					t.Fatalf("%s: UID %d (modseq %d) passed UNCHANGEDSINCE %d", step, u, m.modseq, since)
				}
				continue
			}
			next := map[string]bool{}
			switch op {
			case store.FlagsReplace:
				next = ch
			case store.FlagsAdd:
				maps.Copy(next, m.names)
				maps.Copy(next, ch)
			case store.FlagsRemove:
				for f := range m.names {
					if !ch[f] {
						next[f] = true
					}
				}
			}
			f, changed := reported[u]
			if maps.Equal(next, m.names) {
				if changed {
					t.Fatalf("%s: UID %d reported changed to %v", step, u, f)
				}
				continue
			}
			if !changed || !maps.Equal(nameSet(f), next) {
				t.Fatalf("%s: UID %d reported %v (changed %v), want %v", step, u, f, changed, next)
			}
			if m.modseq <= syncPoint && m.synced == nil {
				m.synced = m.names
			}
			if m.stamps == nil {
				m.stamps = store.FlagStamps{}
			}
			for f := range next {
				if !m.names[f] {
					m.stamps[f] = res.ModSeq
				}
			}
			for f := range m.names {
				if !next[f] {
					m.stamps[f] = res.ModSeq
				}
			}
			m.names, m.modseq = next, res.ModSeq
		}
		if len(reported) != 0 && res.ModSeq == 0 {
			t.Fatalf("%s: changes without a modseq", step)
		}
		check(step)
		return res.ModSeq
	}
	setOf := func(keep func(store.UID) bool) store.UIDSet {
		var s store.UIDSet
		for u := store.UID(1); u <= n; u++ {
			if keep(u) {
				s.Add(u)
			}
		}
		return s
	}
	seen := store.Flags{System: store.FlagSeen}

	// 230 alone inside a long run of unseen messages gets a \Seen stamp,
	// which the STORE over everything must leave alone.
	store_("-\\Seen 230", store.UIDSetOf(230), store.FlagsRemove, seen, 0)
	store_("+\\Seen 230", store.UIDSetOf(230), store.FlagsAdd, seen, 0)
	ms1 := store_("+\\Seen 1:*", store.UIDSet{{Start: 1, Stop: store.MaxUID}}, store.FlagsAdd, seen, 0)
	store_("+\\Answered every 11th", setOf(func(u store.UID) bool { return u%11 == 0 && u >= 100 && u <= 400 }),
		store.FlagsAdd, store.Flags{System: store.FlagAnswered}, 0)
	store_("-\\Seen \\Flagged UNCHANGEDSINCE", store.UIDSet{{Start: 100, Stop: 400}}, store.FlagsRemove,
		store.Flags{System: store.FlagSeen | store.FlagFlagged}, ms1)
	store_("FLAGS \\Draft", store.UIDSet{{Start: 500, Stop: n}}, store.FlagsReplace, store.Flags{System: store.FlagDraft}, 0)
	// Blocks of ten with blocks of twenty left alone between them.
	blocks := setOf(func(u store.UID) bool { return u%30 >= 1 && u%30 <= 10 })
	store_("+FLAGS \\Deleted Work in blocks", blocks, store.FlagsAdd, store.Flags{System: store.FlagDeleted, Keywords: []string{"Work"}}, 0)
	store_("-FLAGS WORK", store.UIDSet{{Start: 1, Stop: 300}}, store.FlagsRemove, store.Flags{Keywords: []string{"WORK"}}, 0)
	ms2 := store_("+\\Flagged on the rest of the blocks", setOf(func(u store.UID) bool { return u%30 > 10 }),
		store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0)
	store_("FLAGS \\Seen Todo x UNCHANGEDSINCE", store.UIDSet{{Start: 250, Stop: 350}}, store.FlagsReplace,
		store.Flags{System: store.FlagSeen, Keywords: []string{"Todo", "x"}}, ms2-1)
	store_("+\\Flagged in blocks", blocks, store.FlagsAdd, store.Flags{System: store.FlagFlagged}, 0)
	store_("-\\Flagged 1:*", store.UIDSet{{Start: 1, Stop: store.MaxUID}}, store.FlagsRemove, store.Flags{System: store.FlagFlagged}, 0)
}
