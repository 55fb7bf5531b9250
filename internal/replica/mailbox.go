package replica

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tidemark-mail/tidemark/internal/bodypack"
	"github.com/tidemark-mail/tidemark/internal/store"
)

// rehome is a message that moves to a fresh UID on both sides.
type rehome struct {
	m    Message
	from *side
}

// side is what a mailbox sync knows and plans for one side.
type side struct {
	u     User
	ch    MailboxChanges
	msgs  map[store.UID]Message // messages of the UIDs in play that exist
	chg   map[store.UID]bool    // changed since the other side last applied
	tombs map[store.UID]store.ModSeq
	ids   map[store.UID]string // EMAILIDs of expunged UIDs, where known
	gone  map[string]bool      // the same EMAILIDs
	batch Batch                // what this side receives
}

func (s *side) hms() store.ModSeq             { return s.ch.Mailbox.HighestModSeq }
func (s *side) next() store.UID               { return s.ch.Mailbox.UIDNext }
func (s *side) tomb(u store.UID) store.ModSeq { return s.tombs[u] }

// nothingToDo reports a round in which neither side changed the mailbox
// since the other last applied it.
func nothingToDo(a, b *side, u0 store.UID) bool {
	quiet := func(s *side) bool { return len(s.ch.Changed) == 0 && s.ch.Vanished.Empty() && len(s.ch.Metadata) == 0 }
	return quiet(a) && quiet(b) && a.next() == b.next() && u0 == a.next()
}

// readSides reads both sides' changes since what the other applied, their
// tombstones and the messages in play, each side in one snapshot
// (User.Changes, store.Replica.ReadRound), so a client's write during the
// round never shows a message in a state its side's changes do not
// account for. A is read first, and B's read looks up A's UIDs in play
// too. B's UIDs in play that A's read did not cover are looked up on A
// afterwards, in a read that also returns what A changed since its
// snapshot: those of them A changed meanwhile are raced, left out of this
// round (A's record of B's changes then stays below them, so the next
// round carries them, and A's change too).
func (p *pair) readSides(ctx context.Context, guid string, a, b *side, sinceA, sinceB store.ModSeq, u0 store.UID) (raced store.UIDSet, err error) {
	if a.ch, err = p.a.Changes(ctx, guid, sinceA, nil); err != nil {
		return nil, err
	}
	inPlayA := a.ch.inPlay()
	if b.ch, err = p.b.Changes(ctx, guid, sinceB, inPlayA); err != nil {
		return nil, err
	}
	if a.ch.Mailbox.UIDValidity != b.ch.Mailbox.UIDValidity {
		return nil, fmt.Errorf("UIDVALIDITY %d here, %d there", a.ch.Mailbox.UIDValidity, b.ch.Mailbox.UIDValidity)
	}
	if nothingToDo(a, b, u0) {
		return nil, nil
	}
	msgsA := a.ch.Messages
	if extra := subtract(b.ch.inPlay(), inPlayA); !extra.Empty() {
		late, err := p.a.Changes(ctx, guid, a.hms(), extra)
		if err != nil {
			return nil, err
		}
		raced = intersect(extra, late.inPlay())
		for _, m := range late.Messages {
			if extra.Contains(m.UID) && !raced.Contains(m.UID) {
				msgsA = append(msgsA, m)
			}
		}
	}
	a.index(msgsA)
	b.index(b.ch.Messages)
	return raced, nil
}

// index fills the side's maps from its read.
func (s *side) index(msgs []Message) {
	s.msgs = make(map[store.UID]Message, len(msgs))
	for _, m := range msgs {
		s.msgs[m.UID] = m
	}
	s.chg = make(map[store.UID]bool, len(s.ch.Changed))
	for _, m := range s.ch.Changed {
		s.chg[m.UID] = true
	}
	s.tombs = make(map[store.UID]store.ModSeq)
	s.ids = make(map[store.UID]string)
	s.gone = make(map[string]bool)
	for _, t := range s.ch.Tombstones {
		for u, e := range t.EmailIDs {
			s.ids[u] = e
			for _, id := range strings.Fields(e) {
				s.gone[id] = true
			}
		}
		for _, r := range t.UIDs {
			if r.Stop-r.Start > 1<<16 {
				continue // a huge range: its UIDs get a fresh modseq
			}
			for u := r.Start; ; u++ {
				s.tombs[u] = t.ModSeq
				if u == r.Stop {
					break
				}
			}
		}
	}
}

// appliedBelow returns the highest modseq of side s up to which its
// changes are all in this round: below the first change of a raced UID
// (since when that change cannot be told).
func (s *side) appliedBelow(raced store.UIDSet, since, upTo store.ModSeq) store.ModSeq {
	for _, u := range raced.UIDs() {
		first := since + 1
		if m, ok := s.msgs[u]; ok && s.chg[u] {
			first = m.ModSeq
		} else if t, ok := s.tombs[u]; ok {
			first = t
		}
		upTo = min(upTo, first-1)
	}
	return upTo
}

// syncMailbox exchanges one mailbox's changes (docs/replication.md):
// each side's ChangesSince the point the other last applied, then per UID
// one of the rules below, then one batch per side (appends split by size)
// with the sync state in the same transaction.
func (p *pair) syncMailbox(ctx context.Context, guid string) error {
	psA, err := p.a.PeerStates(ctx, p.nodeB)
	if err != nil {
		return err
	}
	psB, err := p.b.PeerStates(ctx, p.nodeA)
	if err != nil {
		return err
	}
	// A's changes since what B applied of A, and the reverse.
	sinceA, sinceB := psB[guid].Applied, psA[guid].Applied
	u0 := max(psA[guid].UIDNext, psB[guid].UIDNext, 1)
	a := &side{u: p.a}
	b := &side{u: p.b}
	raced, err := p.readSides(ctx, guid, a, b, sinceA, sinceB, u0)
	if err != nil {
		return err
	}
	first := psA[guid] == (store.PeerState{}) || psB[guid] == (store.PeerState{})
	if nothingToDo(a, b, u0) {
		if first {
			return p.firstQuiet(ctx, guid, a, b, u0)
		}
		return nil // nothing changed on either side: nothing is sent
	}
	a.forgetSeen(p.seenA[guid])
	b.forgetSeen(p.seenB[guid])
	p.stats.Mailboxes++
	if first {
		// A first sync of this mailbox between the two: both start
		// keeping flag history and the EMAILIDs of what they expunge
		// now, not when this sync ends, so that a sync cut short (kill
		// -9 of either side) still leaves each side able to tell, next
		// time, that a message the other received was expunged since.
		for _, u := range []User{p.a, p.b} {
			if _, err := u.Apply(ctx, guid, Batch{KeepHistory: true}); err != nil {
				return err
			}
		}
	}

	var uids []store.UID
	for _, s := range []*side{a, b} {
		for u := range s.msgs {
			if !raced.Contains(u) {
				uids = append(uids, u)
			}
		}
	}
	slices.Sort(uids)
	uids = slices.Compact(uids)

	// Flags changed on both sides need the flags at the last sync.
	var both store.UIDSet
	for _, u := range uids {
		ma, okA := a.msgs[u]
		mb, okB := b.msgs[u]
		if okA && okB && ma.BlobID == mb.BlobID && !flagsEqual(ma.Flags, mb.Flags) && !(a.chg[u] != b.chg[u]) {
			both.Add(u)
		}
	}
	var baseA, baseB map[store.UID]store.Flags
	if !both.Empty() {
		// The last point of convergence, in each side's own modseqs.
		if baseA, err = p.a.FlagsAt(ctx, guid, both, sinceA); err != nil {
			return err
		}
		if baseB, err = p.b.FlagsAt(ctx, guid, both, sinceB); err != nil {
			return err
		}
	}

	var moved []rehome
	for _, u := range uids {
		ma, okA := a.msgs[u]
		mb, okB := b.msgs[u]
		switch {
		case okA && okB && ma.BlobID != mb.BlobID:
			// The same UID given to two messages while apart: both move to
			// fresh UIDs on both sides, and the UID is expunged on both,
			// so clients drop what they cached under it. A message the
			// other side already holds under another UID (moved by an
			// earlier clash with a third replica) is not moved again.
			// A message the other side expunged under another UID (it
			// was moved there by a clash with a third replica) does not
			// move: the expunge wins, as for a message held on one side.
			for _, x := range [][2]*side{{a, b}, {b, a}} {
				m, y := x[0].msgs[u], x[1]
				if y.gone[m.EmailID] {
					held, err := p.heldElsewhere(ctx, guid, y, x[0], m, moved)
					if err != nil {
						return err
					}
					if !held {
						continue
					}
				}
				moved = append(moved, rehome{m, x[0]})
			}
			a.expunge(u, 0)
			b.expunge(u, 0)
		case okA && okB:
			if flagsEqual(ma.Flags, mb.Flags) {
				continue
			}
			p.log().Debug("flags differ", "uid", u, "a", ma.Flags, "achg", a.chg[u], "sa", ma.Stamps, "b", mb.Flags, "bchg", b.chg[u], "sb", mb.Stamps)
			// Without stamps (changes made before a mailbox was first
			// synced with a stamping version): the side that changed the
			// message, else per flag by the flags at the last sync.
			var unstamped store.Flags
			switch {
			case a.chg[u] && !b.chg[u]:
				unstamped = ma.Flags
			case b.chg[u] && !a.chg[u]:
				unstamped = mb.Flags
			default:
				var base *store.Flags
				if f, ok := baseA[u]; ok {
					base = &f
				} else if f, ok := baseB[u]; ok {
					base = &f
				}
				unstamped = mergeFlags(base, ma.Flags, ma.ModSeq, mb.Flags, mb.ModSeq)
			}
			m, st := mergeStamped(ma, mb, unstamped)
			p.log().Debug("flag merge", "uid", u, "merged", m, "stamps", st)
			// The winning side's modseq when one side's flags win whole
			// (with one writing side the replicas' modseqs so stay equal).
			ms := max(ma.ModSeq, mb.ModSeq)
			switch {
			case flagsEqual(m, ma.Flags):
				ms = ma.ModSeq
			case flagsEqual(m, mb.Flags):
				ms = mb.ModSeq
			}
			if !flagsEqual(m, ma.Flags) {
				a.setFlags(u, m, st, ms)
			}
			if !flagsEqual(m, mb.Flags) {
				b.setFlags(u, m, st, ms)
			}
		case okA:
			if err := p.oneSided(ctx, guid, a, b, ma, u0, &moved); err != nil {
				return err
			}
		case okB:
			if err := p.oneSided(ctx, guid, b, a, mb, u0, &moved); err != nil {
				return err
			}
		}
	}
	// A message to move that the other side already holds under another
	// UID which survives this round (an earlier clash with a third replica
	// moved it there) is not moved again: it takes the other side's copy.
	if len(moved) > 0 {
		// The same message from both sides (each holding it under a UID
		// the other used) moves once.
		seen := make(map[string]bool)
		uniq := moved[:0]
		for _, r := range moved {
			if !seen[r.m.EmailID] {
				seen[r.m.EmailID] = true
				uniq = append(uniq, r)
			}
		}
		moved = uniq
		keep := make([]rehome, 0, len(moved))
		for _, r := range moved {
			other := b
			if r.from == b {
				other = a
			}
			held, err := p.heldElsewhere(ctx, guid, other, nil, r.m, moved)
			if err != nil {
				return err
			}
			if !held {
				keep = append(keep, r)
			}
			p.log().Debug("UID clash", "uid", r.m.UID, "emailid", r.m.EmailID, "held_elsewhere", held)
		}
		moved = keep
	}

	// Tombstones of UIDs the other side does not hold: they get
	// tombstones there too, at the same modseq, so a client failing over
	// learns of the expunge. That is UIDs it never used (at or above its
	// UIDNEXT) and also UIDs below it: its UIDNEXT may have passed a UID it
	// never received (an earlier round read the message here and found it
	// expunged when it looked it up, so sent neither the message nor the
	// expunge). The receiver leaves alone the UIDs it already tombstoned.
	for _, x := range [][2]*side{{a, b}, {b, a}} {
		from, to := x[0], x[1]
		held := slices.Clone(raced) // settled next round
		for u := range to.msgs {
			held.Add(u)
		}
		for _, t := range from.ch.Tombstones {
			// The peer's modseq as it is: the receiver writes it there
			// without allocating one when it has passed it already
			// (store.Batch.Expunges), so with one writing side modseqs
			// stay identical (docs/replication.md, "Limits", for three
			// or more replicas).
			ms := t.ModSeq
			for _, r := range t.UIDs {
				for _, g := range minus(r, held) {
					to.expungeRange(g.Start, g.Stop, ms, t.EmailIDs)
				}
			}
		}
	}

	mergeMetadata(a, b)

	// Fresh UIDs above both UIDNEXTs, in a fixed order.
	next := max(a.next(), b.next(), u0)
	slices.SortStableFunc(moved, func(x, y rehome) int { return int(int64(x.m.UID) - int64(y.m.UID)) })
	for _, r := range moved {
		m := r.m
		m.UID, m.ModSeq = next, 0
		a.batch.Appends = append(a.batch.Appends, Append{Message: m})
		b.batch.Appends = append(b.batch.Appends, Append{Message: m})
		next++
		p.stats.Clashes++
	}
	a.batch.UIDNext, b.batch.UIDNext = next, next
	// HIGHESTMODSEQ follows the other side's too (when one side writes,
	// both end equal).
	a.batch.HighestModSeq, b.batch.HighestModSeq = b.hms(), a.hms()

	// B first: it records that it has A's changes up to what A showed.
	hA, hB := a.hms(), b.hms()
	b.batch.UnchangedSince, b.batch.KeepHistory, b.batch.Peer = hB, true, p.nodeA
	b.batch.State = &store.PeerState{Applied: hA, Confirmed: sinceB, UIDNext: next}
	resB, cleanB, err := p.send(ctx, guid, a, b)
	if err != nil {
		return err
	}
	// What A has of B: B's changes as read, and when nothing else happened
	// on B meanwhile, everything B's modseq moved to for them.
	appliedB := hB
	if cleanB && resB.Modified.Empty() {
		appliedB = resB.After
	}
	appliedB = b.appliedBelow(raced, sinceB, appliedB)
	confirmedA := sinceA
	if resB.Modified.Empty() {
		confirmedA = hA
	}
	a.batch.UnchangedSince, a.batch.KeepHistory, a.batch.Peer = hA, true, p.nodeB
	a.batch.State = &store.PeerState{Applied: appliedB, Confirmed: confirmedA, UIDNext: next}
	resA, cleanA, err := p.send(ctx, guid, b, a)
	if err != nil {
		return err
	}
	if cleanA && resA.Modified.Empty() && resA.After != hA && resB.Modified.Empty() {
		// A's modseqs moved only for B's changes: B has them all.
		return p.b.SetPeerState(ctx, p.nodeA, guid, store.PeerState{Applied: resA.After, Confirmed: appliedB, UIDNext: next})
	}
	return nil
}

// firstQuiet records a first sync of a mailbox in which neither side has
// anything to send (a mailbox just created on both): each side keeps
// flag history from now on and a PeerState for the other, as a round
// that sent something would. That state is what lets a later sync tell
// that the mailbox was on both sides, should one of them delete it and
// prune the tombstone (onOneSide).
func (p *pair) firstQuiet(ctx context.Context, guid string, a, b *side, u0 store.UID) error {
	for _, x := range [][2]*side{{b, a}, {a, b}} {
		s, other := x[0], x[1]
		peer := p.nodeA
		if s == a {
			peer = p.nodeB
		}
		st := &store.PeerState{Applied: other.hms(), Confirmed: s.hms(), UIDNext: u0}
		if _, err := s.u.Apply(ctx, guid, Batch{KeepHistory: true, Peer: peer, State: st}); err != nil {
			return err
		}
	}
	return nil
}

// oneSided settles a message that exists on side x only.
func (p *pair) oneSided(ctx context.Context, guid string, x, y *side, m Message, u0 store.UID, moved *[]rehome) error {
	u := m.UID
	id, known := y.ids[u]
	if known && slices.Contains(strings.Fields(id), m.EmailID) || !known && u < u0 && u < y.next() {
		// y expunged this message (it had it when they last converged, or
		// its tombstone names it). An expunge wins over any flag change
		// on x.
		x.expunge(u, y.tomb(u))
		return nil
	}
	if y.gone[m.EmailID] {
		// y expunged this message under another UID (it had moved there
		// after a UID clash elsewhere): unless y still holds it, that
		// expunge wins too.
		held, err := p.heldElsewhere(ctx, guid, y, x, m, *moved)
		if err != nil {
			return err
		}
		if !held {
			x.expunge(u, 0)
			return nil
		}
	}
	if u >= y.next() {
		// New on x, and y never used the UID: y gets it, same UID.
		y.batch.Appends = append(y.batch.Appends, Append{Message: m})
		return nil
	}
	// New on x, but y gave the UID to another message (and expunged it):
	// x's message moves to a fresh UID.
	// x's record of the UID names y's expunged message too, so that the
	// knowledge that it went travels on from x to replicas that still
	// hold it.
	*moved = append(*moved, rehome{m, x})
	var ids map[store.UID]string
	if known {
		ids = map[store.UID]string{u: id}
	}
	x.expungeRange(u, u, 0, ids)
	return nil
}

// heldElsewhere reports whether side y holds message m (same content and
// EMAILID, which replication carries) under another UID that survives
// this round: not expunged by it, or moved to a fresh UID. With x (the
// side holding m, which keeps it), a copy y loses this round because x's
// tombstone of that UID names m counts too: x moved m from there (a clash
// with a third replica), so y's copy is m under a stale UID, and m lives
// on under x's. Without this, y's record of its own clash moves of m
// (its tombstones name what they held) would make m look expunged on
// both sides, and it would be lost.
func (p *pair) heldElsewhere(ctx context.Context, guid string, y, x *side, m Message, moved []rehome) (bool, error) {
	found, err := y.u.Find(ctx, guid, []string{m.BlobID})
	if err != nil {
		return false, err
	}
	var others store.UIDSet
	for _, u := range found[m.BlobID] {
		if u != m.UID {
			others.Add(u)
		}
	}
	if others.Empty() {
		return false, nil
	}
	ms, err := y.u.Lookup(ctx, guid, others)
	if err != nil {
		return false, err
	}
	for _, o := range ms {
		if o.EmailID != m.EmailID {
			continue
		}
		expunged := slices.ContainsFunc(y.batch.Expunges, func(e store.Expunged) bool { return e.UIDs.Contains(o.UID) })
		movedOn := slices.ContainsFunc(moved, func(r rehome) bool { return r.from == y && r.m.UID == o.UID })
		stale := x != nil && slices.Contains(strings.Fields(x.ids[o.UID]), m.EmailID)
		if !expunged || movedOn || stale {
			return true, nil
		}
	}
	return false, nil
}

// subtract returns the UIDs of s not in t.
func subtract(s, t store.UIDSet) store.UIDSet {
	var out store.UIDSet
	for _, r := range s {
		for _, g := range minus(r, t) {
			out.AddRange(g.Start, g.Stop)
		}
	}
	return out
}

// intersect returns the UIDs in both s and t.
func intersect(s, t store.UIDSet) store.UIDSet {
	return subtract(s, subtract(s, t))
}

// minus returns the UIDs of r not in s (s ascending and merged).
func minus(r store.UIDRange, s store.UIDSet) store.UIDSet {
	var out store.UIDSet
	next := r.Start
	for _, h := range s {
		if h.Stop < next {
			continue
		}
		if h.Start > r.Stop {
			break
		}
		if h.Start > next {
			out.AddRange(next, h.Start-1)
		}
		if h.Stop >= r.Stop {
			return out
		}
		next = h.Stop + 1
	}
	return append(out, store.UIDRange{Start: next, Stop: r.Stop})
}

func (s *side) expunge(u store.UID, ms store.ModSeq) {
	for i := range s.batch.Expunges {
		if s.batch.Expunges[i].ModSeq == ms {
			s.batch.Expunges[i].UIDs.Add(u)
			return
		}
	}
	s.batch.Expunges = append(s.batch.Expunges, store.Expunged{UIDs: store.UIDSetOf(u), ModSeq: ms})
}

func (s *side) expungeRange(start, stop store.UID, ms store.ModSeq, ids map[store.UID]string) {
	i := slices.IndexFunc(s.batch.Expunges, func(e store.Expunged) bool { return e.ModSeq == ms })
	if i < 0 {
		s.batch.Expunges = append(s.batch.Expunges, store.Expunged{ModSeq: ms})
		i = len(s.batch.Expunges) - 1
	}
	e := &s.batch.Expunges[i]
	e.UIDs.AddRange(start, stop)
	for u, id := range ids {
		if start <= u && u <= stop {
			if e.EmailIDs == nil {
				e.EmailIDs = make(map[store.UID]string)
			}
			e.EmailIDs[u] = id
		}
	}
}

func (s *side) setFlags(u store.UID, f store.Flags, st store.FlagStamps, ms store.ModSeq) {
	s.batch.Flags = append(s.batch.Flags, store.MessageState{UID: u, ModSeq: ms, Flags: f})
	if len(st) > 0 {
		if s.batch.Stamps == nil {
			s.batch.Stamps = make(map[store.UID]store.FlagStamps)
		}
		s.batch.Stamps[u] = st
	}
}

// send applies to side to the batch planned for it, fetching from side
// from the bodies to lacks, in transactions bounded by the batch limits;
// the last one carries the flags, expunges and sync state. clean reports
// that no other write came between the transactions (HIGHESTMODSEQ moved
// only for them).
func (p *pair) send(ctx context.Context, guid string, from, to *side) (res store.ApplyResult, clean bool, err error) {
	b := to.batch
	slices.SortFunc(b.Appends, func(x, y Append) int { return int(int64(x.UID) - int64(y.UID)) })
	var blobs []string
	for _, a := range b.Appends {
		blobs = append(blobs, a.BlobID)
	}
	have, err := to.u.HasBodies(ctx, blobs)
	if err != nil {
		return res, false, err
	}
	// The appends of each content, so that one fetched body serves them
	// all without a scan of the batch per body.
	byBlob := make(map[string][]int, len(b.Appends))
	for k, a := range b.Appends {
		byBlob[a.BlobID] = append(byBlob[a.BlobID], k)
	}
	prev := to.hms()
	clean = true
	// The parts are prepared (bodies fetched from the sender) one ahead
	// of the one being applied on the receiver, so that reading on one
	// side and writing on the other overlap; at most three parts' bodies
	// are in memory at once.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	parts := make(chan preparedPart, 1)
	go func() {
		defer close(parts)
		apps := b.Appends
		for {
			// Take appends up to the limits; bodies are fetched for this
			// part only.
			n, size := 0, int64(0)
			for n < len(apps) && n < p.opts.batchMessages() && (n == 0 || size+apps[n].Size <= p.opts.batchBytes()) {
				if !have[len(b.Appends)-len(apps)+n] {
					size += apps[n].Size
				}
				n++
			}
			pp := preparedPart{part: slices.Clone(apps[:n])}
			var need []string
			var idx []int
			var gone map[string]bool
			for i := range pp.part {
				if have[len(b.Appends)-len(apps)+i] {
					continue
				}
				if pp.part[i].Size > chunkSize && pp.err == nil {
					var staged, lost bool
					staged, lost, pp.err = p.stream(pctx, guid, from, to, &pp.part[i])
					if lost {
						if gone == nil {
							gone = make(map[string]bool)
						}
						gone[pp.part[i].BlobID] = true
					}
					if staged {
						pp.bodies++
						pp.streamed++
						pp.bytes += pp.part[i].Size
					}
					if staged || lost || pp.err != nil {
						continue
					}
				}
				need = append(need, pp.part[i].BlobID)
				idx = append(idx, i)
			}
			for _, a := range pp.part {
				if a.Staged != "" {
					for _, k := range byBlob[a.BlobID] {
						have[k] = true
					}
				}
			}
			if len(need) > 0 && pp.err == nil {
				var fetchGone map[string]bool
				var bodies [][]byte
				var packed bool
				bodies, packed, fetchGone, pp.err = p.fetchBodies(pctx, guid, from, to, need)
				for id := range fetchGone {
					if gone == nil {
						gone = make(map[string]bool)
					}
					gone[id] = true
				}
				var derived [][]byte
				if pp.err == nil {
					derived = p.derived(pctx, from, need)
				}
				for j, i := range idx {
					if pp.err != nil {
						break
					}
					if gone[need[j]] {
						continue
					}
					if packed {
						pp.part[i].Packed = bodies[j]
						if bodypack.IsFrame(bodies[j]) {
							pp.compressed++
						}
					} else {
						pp.part[i].Body = bodies[j]
					}
					pp.part[i].Derived = derived[j]
					pp.bodies++
					pp.bytes += pp.part[i].Size
					// Later appends of the same content reuse it.
					for _, k := range byBlob[pp.part[i].BlobID] {
						have[k] = true
					}
				}
			}
			if len(gone) > 0 {
				pp.part = slices.DeleteFunc(pp.part, func(a Append) bool { return gone[a.BlobID] })
			}
			apps = apps[n:]
			pp.last = len(apps) == 0 || pp.err != nil
			select {
			case parts <- pp:
			case <-pctx.Done():
				return
			}
			if pp.last {
				return
			}
		}
	}()
	for pp := range parts {
		if pp.err != nil {
			return res, false, pp.err
		}
		p.stats.Bodies += pp.bodies
		p.stats.StreamedBodies += pp.streamed
		p.stats.Compressed += pp.compressed
		p.stats.BodyBytes += pp.bytes
		// Every part keeps flag history and expunged EMAILIDs from the
		// point it reaches (not only the last part): a receiver stopped
		// between parts can still tell, next time, what its clients
		// expunged of what it had received.
		batch := Batch{Appends: pp.part, KeepHistory: true}
		if pp.last {
			batch = b
			batch.Appends = pp.part
		}
		res, err = to.u.Apply(ctx, guid, batch)
		if err != nil {
			return res, false, err
		}
		if res.Before != prev {
			clean = false
		}
		prev = res.After
		p.stats.Appends += len(pp.part)
		p.stats.Derived += res.Derived
		if pp.last {
			break
		}
	}
	if ctx.Err() != nil {
		return res, false, ctx.Err()
	}
	p.stats.Flags += len(b.Flags)
	p.stats.Metadata += len(b.Metadata)
	// Expunges count the messages removed: the batch also names UIDs the
	// receiver never held, or already expunged, for their tombstones.
	p.stats.Expunges += int(res.Expunged.Len())
	return res, clean, nil
}

// preparedPart is one transaction's appends with the bodies the receiver
// lacks, fetched ahead of its turn.
type preparedPart struct {
	part       []Append
	last       bool
	err        error
	bodies     int   // bodies fetched for it
	streamed   int   // of which staged on the receiver in chunks
	compressed int   // of which fetched compressed (bodypack)
	bytes      int64 // their size
}

// stream copies a's body from the sender to a body staged on the
// receiver, in chunks (stream.go), and names it in a.Staged. A body gone
// from the sender since it was looked up is reported lost, as bodies
// does; a peer too old to stream reports neither, and the body is then
// fetched whole.
func (p *pair) stream(ctx context.Context, guid string, from, to *side, a *Append) (staged, lost bool, err error) {
	name := fmt.Sprintf("%s.%d", a.BlobID, a.UID)
	_, err = streamBody(ctx, from.u, to.u, a.BlobID, name)
	switch {
	case err == nil:
		a.Staged = name
		return true, false, nil
	case unsupported(err):
		return false, false, nil
	}
	held, ferr := from.u.Find(ctx, guid, []string{a.BlobID})
	if ferr != nil || len(held[a.BlobID]) > 0 {
		return false, false, err
	}
	p.log().Debug("replication: body gone since looked up, left out", "blob", a.BlobID)
	return false, true, nil
}

// derived fetches from side from what its store derived from the bytes
// of need (User.Derived), so that the receiver need not parse them. It
// is an optimization only: a peer too old to have the call is not asked
// again during this sync, and any failure leaves the receiver to parse.
// The result has one entry per content of need (nil: none).
func (p *pair) derived(ctx context.Context, from *side, need []string) [][]byte {
	if p.noDerived.Load() {
		return make([][]byte, len(need))
	}
	d, err := from.u.Derived(ctx, need)
	if err == nil && len(d) == len(need) {
		return d
	}
	if unsupported(err) {
		p.noDerived.Store(true)
	} else if err != nil {
		p.log().Debug("replication: derived data not read, the receiver parses", "err", err)
	}
	return make([][]byte, len(need))
}

// fetchBodies fetches the bodies of need from side from, packed (package
// bodypack) when both sides take that form: fewer bytes cross, and an
// embedded store on either side neither decompresses nor compresses
// them again. packed reports the form of bodies. A peer too old for it
// is not asked again during this sync. gone and err are as for bodies.
func (p *pair) fetchBodies(ctx context.Context, guid string, from, to *side, need []string) (bodies [][]byte, packed bool, gone map[string]bool, err error) {
	if to.u.TakesPacked() && !p.noPacked.Load() {
		bodies, gone, err = p.bodies(ctx, guid, from, need, from.u.PackedBodies)
		if !unsupported(err) {
			return bodies, true, gone, err
		}
		p.noPacked.Store(true)
	}
	bodies, gone, err = p.bodies(ctx, guid, from, need, from.u.Bodies)
	return bodies, false, gone, err
}

// bodies fetches the bodies of need from side from through read (Bodies
// or PackedBodies). A body can go between the lookup of its message and
// this call (the message expunged on the sender and its bytes reclaimed); then the contents the mailbox no longer
// holds are reported in gone, and the others fetched again. Their messages
// are left out of the append: the expunge reaches the receiver next round,
// and a UID it never received is covered by the tombstone. Any other
// failure stands. bodies[i] is need[i]'s bytes (nil for a gone one).
func (p *pair) bodies(ctx context.Context, guid string, from *side, need []string,
	read func(context.Context, []string) ([][]byte, error)) (bodies [][]byte, gone map[string]bool, err error) {
	bodies, err = read(ctx, need)
	if err == nil || unsupported(err) {
		return bodies, nil, err
	}
	held, ferr := from.u.Find(ctx, guid, need)
	if ferr != nil {
		return nil, nil, err
	}
	var still []string
	for _, id := range need {
		if len(held[id]) > 0 {
			still = append(still, id)
		} else {
			if gone == nil {
				gone = make(map[string]bool)
			}
			gone[id] = true
		}
	}
	if len(gone) == 0 {
		return nil, nil, err
	}
	p.log().Debug("replication: bodies gone since looked up, left out", "count", len(gone))
	got, err := read(ctx, still)
	if err != nil {
		return nil, nil, err
	}
	bodies = make([][]byte, len(need))
	j := 0
	for i, id := range need {
		if !gone[id] {
			bodies[i] = got[j]
			j++
		}
	}
	return bodies, gone, nil
}
