package storetest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// The model test drives the store with long seeded random operation
// sequences and checks it, after every step, against a simple in-memory
// model: Snapshot equals the model, Check finds nothing, and for random
// earlier modseqs M, the model's state at M plus ChangesSince(M) is the
// current state.
//
//	TIDEMARK_MODEL_SEED=N     run only seed N (default: seeds 1..3)
//	TIDEMARK_MODEL_STEPS=N    steps per seed (default 120)
//
// Backend.ModelSetup may vary internal sizes by seed (the embedded store
// picks its chunk size from it).

type modelBox struct {
	id          store.MailboxID
	uidNext     store.UID
	hms         store.ModSeq
	prunedBelow store.ModSeq
	msgs        map[store.UID]store.MessageState
	// history holds the messages and UIDNEXT as they were at each modseq.
	history map[store.ModSeq]modelPoint
}

type modelPoint struct {
	msgs    map[store.UID]store.MessageState
	uidNext store.UID
}

type model struct {
	t     *testing.T
	rng   *rand.Rand
	s     store.Store
	a     store.Account
	boxes map[string]*modelBox
	msgN  int
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func testModel(t *testing.T, be Backend) {
	seeds := []int{1, 2, 3}
	if s := envInt("TIDEMARK_MODEL_SEED", 0); s != 0 {
		seeds = []int{s}
	}
	steps := envInt("TIDEMARK_MODEL_STEPS", 120)
	if testing.Short() {
		steps = 60
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Logf("seed %d (TIDEMARK_MODEL_SEED), %d steps (TIDEMARK_MODEL_STEPS)", seed, steps)
			if be.ModelSetup != nil {
				be.ModelSetup(t, seed)
			}
			s, a := be.newAccount(t)
			m := &model{t: t, rng: rand.New(rand.NewPCG(uint64(seed), 7)), s: s, a: a, boxes: map[string]*modelBox{}}
			inbox := MustMailbox(t, a, "INBOX")
			m.boxes["INBOX"] = m.newBox(inbox)
			for i := 0; i < steps; i++ {
				op := m.step()
				m.verify(fmt.Sprintf("seed %d step %d (%s)", seed, i, op))
			}
		})
	}
}

func (m *model) newBox(info store.MailboxInfo) *modelBox {
	b := &modelBox{id: info.ID, uidNext: info.UIDNext, hms: info.HighestModSeq, msgs: map[store.UID]store.MessageState{}, history: map[store.ModSeq]modelPoint{}}
	b.record()
	return b
}

func (b *modelBox) record() {
	b.history[b.hms] = modelPoint{msgs: maps.Clone(b.msgs), uidNext: b.uidNext}
}

func (m *model) pickBox() (string, *modelBox) {
	names := slices.Sorted(maps.Keys(m.boxes))
	n := names[m.rng.IntN(len(names))]
	return n, m.boxes[n]
}

func (m *model) randomFlags() store.Flags {
	var f store.Flags
	f.System = store.SystemFlags(m.rng.IntN(32))
	kws := []string{"Work", "work", "$Junk", "todo", "Later"}
	for i := m.rng.IntN(3); i > 0; i-- {
		f.Keywords = append(f.Keywords, kws[m.rng.IntN(len(kws))])
	}
	return f
}

func (m *model) randomSet(b *modelBox) store.UIDSet {
	var s store.UIDSet
	hi := int(b.uidNext) + 2
	for i := 1 + m.rng.IntN(3); i > 0; i-- {
		lo := 1 + m.rng.IntN(hi)
		s.AddRange(store.UID(lo), store.UID(lo+m.rng.IntN(4)))
	}
	if m.rng.IntN(8) == 0 {
		s = store.UIDSet{{Start: 1, Stop: store.MaxUID}}
	}
	return s
}

func (m *model) fatal(err error) {
	m.t.Helper()
	if err != nil {
		m.t.Fatal(err)
	}
}

// change advances a mailbox's modseq for a step that changed it.
func (b *modelBox) change() store.ModSeq {
	b.hms++
	return b.hms
}

func (m *model) step() string {
	t := m.t
	name, b := m.pickBox()
	switch r := m.rng.IntN(100); {
	case r < 25: // append batch
		n := 1 + m.rng.IntN(4)
		var msgs []store.NewMessage
		var flags []store.Flags
		for i := 0; i < n; i++ {
			m.msgN++
			f := m.randomFlags()
			flags = append(flags, f)
			msgs = append(msgs, store.NewMessage{Body: strings.NewReader(MessageText(m.msgN%50, "")), Flags: f})
		}
		res, err := m.a.Append(ctx, b.id, msgs)
		m.fatal(err)
		ms := b.change()
		if res.ModSeq != ms || len(res.UIDs) != n || res.UIDs[0] != b.uidNext {
			t.Fatalf("append to %s = %+v, model modseq %d uidnext %d", name, res, ms, b.uidNext)
		}
		for _, f := range flags {
			b.msgs[b.uidNext] = store.MessageState{UID: b.uidNext, ModSeq: ms, Flags: store.Flags{System: f.System & allSystemFlags, Keywords: store.NormalizeKeywords(f.Keywords)}}
			b.uidNext++
		}
		b.record()
		return "append " + name
	case r < 50: // flags
		set := m.randomSet(b)
		op := store.FlagOp(m.rng.IntN(3))
		f := m.randomFlags()
		var ucs store.ModSeq
		if m.rng.IntN(3) == 0 {
			ucs = store.ModSeq(1 + m.rng.IntN(int(b.hms)))
		}
		res, err := m.a.SetFlags(ctx, b.id, set, op, f, ucs)
		m.fatal(err)
		var changed, unchanged []store.UID
		var modified store.UIDSet
		next := make(map[store.UID]store.Flags)
		for _, u := range slices.Sorted(maps.Keys(b.msgs)) {
			if !set.Contains(u) {
				continue
			}
			cur := b.msgs[u]
			if ucs != 0 && cur.ModSeq > ucs {
				modified.Add(u)
				continue
			}
			nf := cur.Flags.Apply(op, f)
			nf.System &= allSystemFlags
			if nf.Equal(cur.Flags) {
				unchanged = append(unchanged, u)
			} else {
				changed = append(changed, u)
				next[u] = nf
			}
		}
		if len(changed) > 0 {
			ms := b.change()
			for u, nf := range next {
				b.msgs[u] = store.MessageState{UID: u, ModSeq: ms, Flags: nf}
			}
			b.record()
		}
		if !slices.Equal(uidsOf(res.Changed), changed) || !slices.Equal(uidsOf(res.Unchanged), unchanged) || modified.String() != res.Modified.String() {
			t.Fatalf("flags %v op %d %+v ucs %d: got %+v; model changed %v unchanged %v modified %v", set, op, f, ucs, res, changed, unchanged, modified)
		}
		for _, c := range res.Changed {
			if !c.Flags.Equal(b.msgs[c.UID].Flags) || c.ModSeq != b.hms {
				t.Fatalf("flag result %+v, model %+v", c, b.msgs[c.UID])
			}
		}
		return fmt.Sprintf("flags %s %v", name, set)
	case r < 62: // expunge, everything in the set or only its \Deleted messages
		set := m.randomSet(b)
		onlyDeleted := m.rng.IntN(2) == 0
		var res store.ExpungeResult
		var err error
		if onlyDeleted {
			res, err = m.a.ExpungeDeleted(ctx, b.id, set)
		} else {
			res, err = m.a.Expunge(ctx, b.id, set)
		}
		m.fatal(err)
		var gone []store.UID
		for _, u := range slices.Sorted(maps.Keys(b.msgs)) {
			if set.Contains(u) && (!onlyDeleted || b.msgs[u].Flags.System&store.FlagDeleted != 0) {
				gone = append(gone, u)
				delete(b.msgs, u)
			}
		}
		if len(gone) > 0 {
			b.change()
			b.record()
		}
		if !slices.Equal(res.UIDs, gone) || (len(gone) > 0) != (res.ModSeq == b.hms && res.ModSeq != 0) {
			t.Fatalf("expunge %v (only deleted: %v) = %+v, model %v", set, onlyDeleted, res, gone)
		}
		return fmt.Sprintf("expunge %s %v (only deleted: %v)", name, set, onlyDeleted)
	case r < 77: // copy or move
		dname, d := m.pickBox()
		set := m.randomSet(b)
		move := m.rng.IntN(2) == 0
		var res store.CopyResult
		var err error
		if move {
			res, err = m.a.Move(ctx, b.id, d.id, set)
		} else {
			res, err = m.a.Copy(ctx, b.id, d.id, set)
		}
		m.fatal(err)
		var src []store.UID
		for _, u := range slices.Sorted(maps.Keys(b.msgs)) {
			if set.Contains(u) {
				src = append(src, u)
			}
		}
		if len(src) > 0 {
			ms := d.change()
			var moved []store.MessageState
			for _, u := range src {
				moved = append(moved, b.msgs[u])
			}
			if move {
				if b != d {
					b.change()
				}
				for _, u := range src {
					delete(b.msgs, u)
				}
			}
			for _, x := range moved {
				d.msgs[d.uidNext] = store.MessageState{UID: d.uidNext, ModSeq: ms, Flags: x.Flags}
				d.uidNext++
			}
			d.record()
			b.record()
		}
		if !slices.Equal(res.SrcUIDs, src) || len(res.DstUIDs) != len(src) {
			t.Fatalf("copy %v = %+v, model %v", set, res, src)
		}
		return fmt.Sprintf("copy/move %v %s→%s", set, name, dname)
	case r < 83: // create
		n := []string{"a", "b", "a/c", "b/d/e", "x"}[m.rng.IntN(5)]
		_, err := m.a.CreateMailbox(ctx, n, store.CreateOptions{})
		if _, exists := m.boxes[n]; exists {
			AssertErr(t, err, store.ErrMailboxExists)
			return "create existing " + n
		}
		m.fatal(err)
		for _, p := range append(store.ParentNames(n), n) {
			if m.boxes[p] == nil {
				m.boxes[p] = m.newBox(MustMailbox(t, m.a, p))
			}
		}
		return "create " + n
	case r < 87: // delete
		if name == "INBOX" {
			AssertErr(t, m.a.DeleteMailbox(ctx, name), store.ErrCannot)
			return "delete INBOX"
		}
		m.fatal(m.a.DeleteMailbox(ctx, name))
		delete(m.boxes, name)
		return "delete " + name
	case r < 91: // rename
		to := []string{"r", "s/t", "a/z"}[m.rng.IntN(3)]
		err := m.a.RenameMailbox(ctx, name, to)
		refuse := strings.HasPrefix(to, name+"/")
		for n := range m.boxes {
			if n == name || strings.HasPrefix(n, name+"/") && name != "INBOX" {
				if m.boxes[to+n[len(name):]] != nil {
					refuse = true
				}
			}
		}
		if refuse {
			if err == nil {
				t.Fatalf("rename %s→%s succeeded", name, to)
			}
			return "rename refused " + name + "→" + to
		}
		m.fatal(err)
		if name == "INBOX" {
			// RFC 9051 6.3.6: the messages move, INBOX stays.
			for _, p := range store.ParentNames(to) {
				if m.boxes[p] == nil {
					m.boxes[p] = m.newBox(MustMailbox(t, m.a, p))
				}
			}
			info := MustMailbox(t, m.a, to)
			d := &modelBox{id: info.ID, uidNext: b.uidNext, hms: 1, msgs: map[store.UID]store.MessageState{}, history: map[store.ModSeq]modelPoint{}}
			if len(b.msgs) > 0 {
				ms := d.change()
				for u, x := range b.msgs {
					d.msgs[u] = store.MessageState{UID: u, ModSeq: ms, Flags: x.Flags}
				}
				b.msgs = map[store.UID]store.MessageState{}
				b.change()
				b.record()
			}
			d.record()
			m.boxes[to] = d
			return "rename INBOX→" + to
		}
		moved := map[string]*modelBox{}
		for n, mb := range m.boxes {
			if n == name || strings.HasPrefix(n, name+"/") {
				moved[to+n[len(name):]] = mb
				delete(m.boxes, n)
			}
		}
		maps.Copy(m.boxes, moved)
		for _, p := range store.ParentNames(to) {
			if m.boxes[p] == nil {
				m.boxes[p] = m.newBox(MustMailbox(t, m.a, p))
			}
		}
		return "rename " + name + "→" + to
	default: // prune
		before := store.ModSeq(m.rng.IntN(int(b.hms) + 1))
		m.fatal(m.a.PruneTombstones(ctx, b.id, before))
		b.prunedBelow = max(b.prunedBelow, before)
		return fmt.Sprintf("prune %s %d", name, before)
	}
}

func uidsOf(ms []store.MessageState) []store.UID {
	var out []store.UID
	for _, m := range ms {
		out = append(out, m.UID)
	}
	return out
}

func (m *model) verify(where string) {
	t := m.t
	t.Helper()
	got, err := m.a.Mailboxes(ctx)
	m.fatal(err)
	var gotNames []string
	for _, g := range got {
		gotNames = append(gotNames, g.Name)
	}
	if want := slices.Sorted(maps.Keys(m.boxes)); !slices.Equal(gotNames, want) {
		t.Fatalf("%s: mailboxes %q, model %q", where, gotNames, want)
	}
	for name, b := range m.boxes {
		snap, err := m.a.Snapshot(ctx, b.id)
		m.fatal(err)
		if snap.Mailbox.HighestModSeq != b.hms || snap.Mailbox.UIDNext != b.uidNext || snap.Mailbox.Name != name {
			t.Fatalf("%s: %s is %+v, model hms %d uidnext %d", where, name, snap.Mailbox, b.hms, b.uidNext)
		}
		sameState(t, where+" snapshot "+name, snap.Messages, b.msgs)
		// Messages reads the same state through another path (message rows
		// joined with their chunk entries).
		var read []store.MessageState
		set := m.randomSet(b)
		err = m.a.Messages(ctx, b.id, set, func(d *store.MessageData) error {
			read = append(read, d.MessageState)
			return nil
		})
		m.fatal(err)
		for _, r := range read {
			if w, ok := b.msgs[r.UID]; !ok || r.ModSeq != w.ModSeq || r.Flags.System != w.Flags.System || !slices.Equal(r.Flags.Keywords, w.Flags.Keywords) {
				t.Fatalf("%s: Messages %s: UID %d is %+v, model %+v", where, name, r.UID, r, w)
			}
		}
		inSet := 0
		for u := range b.msgs {
			if set.Contains(u) {
				inSet++
			}
		}
		if inSet != len(read) || !slices.IsSortedFunc(read, cmpState) {
			t.Fatalf("%s: Messages %s %v returned %d messages, model has %d", where, name, set, len(read), inSet)
		}
		// ChangesSince from a random recorded point, and one from below
		// the pruned point when there is one.
		points := slices.Sorted(maps.Keys(b.history))
		ms := []store.ModSeq{points[m.rng.IntN(len(points))]}
		if b.prunedBelow > 0 {
			ms = append(ms, points[0])
		}
		for _, since := range ms {
			m.checkChanges(where+" "+name, b, since)
		}
	}
	if c, ok := m.s.(store.Checker); ok {
		ps, err := c.Check(ctx, "alice")
		m.fatal(err)
		if len(ps) > 0 {
			t.Fatalf("%s: check: %v", where, ps)
		}
	}
}

func (m *model) checkChanges(where string, b *modelBox, since store.ModSeq) {
	t := m.t
	ch, err := m.a.ChangesSince(ctx, b.id, since)
	m.fatal(err)
	if ch.Exact != (since >= b.prunedBelow) || ch.Mailbox.HighestModSeq != b.hms {
		t.Fatalf("%s: changes since %d: exact %v pruned %d hms %d", where, since, ch.Exact, b.prunedBelow, ch.Mailbox.HighestModSeq)
	}
	at := b.history[since]
	state := maps.Clone(at.msgs)
	for _, c := range ch.Changed {
		if c.ModSeq <= since {
			t.Fatalf("%s: changed %+v not after %d", where, c, since)
		}
		state[c.UID] = c
	}
	for _, r := range ch.Vanished {
		for u := r.Start; u <= r.Stop && u != 0; u++ {
			if _, live := b.msgs[u]; live {
				t.Fatalf("%s: vanished UID %d exists", where, u)
			}
			// A UID gone before since may be reported again: tombstones
			// that touch are merged at the later modseq. It must have
			// existed, though.
			if u >= b.uidNext {
				t.Fatalf("%s: changes since %d report UID %d, never given out", where, since, u)
			}
			delete(state, u)
			if u == r.Stop {
				break
			}
		}
	}
	var list []store.MessageState
	for _, u := range slices.Sorted(maps.Keys(state)) {
		list = append(list, state[u])
	}
	sameState(t, fmt.Sprintf("%s: state at %d + changes", where, since), list, b.msgs)
}

func sameState(t *testing.T, where string, got []store.MessageState, want map[store.UID]store.MessageState) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d messages, model %d", where, len(got), len(want))
	}
	for _, g := range got {
		w, ok := want[g.UID]
		if !ok || g.ModSeq != w.ModSeq || g.Flags.System != w.Flags.System || !slices.Equal(g.Flags.Keywords, w.Flags.Keywords) {
			t.Fatalf("%s: UID %d is %+v, model %+v", where, g.UID, g, w)
		}
	}
}

// allSystemFlags masks the defined store.SystemFlags bits.
const allSystemFlags = store.FlagSeen | store.FlagAnswered | store.FlagFlagged | store.FlagDeleted | store.FlagDraft

func cmpState(a, b store.MessageState) int {
	switch {
	case a.UID < b.UID:
		return -1
	case a.UID > b.UID:
		return 1
	}
	return 0
}
