package replica

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// syncAccount brings the mailbox list and subscriptions of both sides to
// one state. It is a comparison of the two states, not a replay: every
// mailbox is matched by replicated id, and each difference is settled by
// the higher stamp (the account change counter of the change's origin).
func (p *pair) syncAccount(ctx context.Context) error {
	for attempt := 0; attempt < 4; attempt++ {
		again, err := p.accountRound(ctx)
		if err != nil || !again {
			return err
		}
	}
	return fmt.Errorf("account state did not settle")
}

// target is what a mailbox must look like on both sides.
type target struct {
	name        string
	special     store.SpecialUse
	stamp       uint64
	uidValidity uint32
	// hms starts the mailbox's HIGHESTMODSEQ when it is created on the
	// side that deleted it (see keepAfterDelete).
	hms store.ModSeq
}

func (p *pair) accountRound(ctx context.Context) (again bool, err error) {
	stA, err := p.a.AccountState(ctx)
	if err != nil {
		return false, err
	}
	stB, err := p.b.AccountState(ctx)
	if err != nil {
		return false, err
	}
	psA, err := p.a.PeerStates(ctx, p.nodeB)
	if err != nil {
		return false, err
	}
	psB, err := p.b.PeerStates(ctx, p.nodeA)
	if err != nil {
		return false, err
	}
	if again, err := p.matchInbox(ctx, stA, stB); again || err != nil {
		return again, err
	}
	sinceA, sinceB := uint64(psB[""].Applied), uint64(psA[""].Applied)

	mA, mB := mailboxMap(stA), mailboxMap(stB)
	tA, tB := tombstoneMap(stA), tombstoneMap(stB)
	guids := make([]string, 0, len(mA)+len(mB))
	for g := range mA {
		guids = append(guids, g)
	}
	for g := range mB {
		if _, ok := mA[g]; !ok {
			guids = append(guids, g)
		}
	}
	slices.Sort(guids)

	tgt := make(map[string]*target)
	var delA, delB []store.AccountOp
	for _, g := range guids {
		a, okA := mA[g]
		b, okB := mB[g]
		switch {
		case okA && okB:
			w := a
			if a.Name != b.Name || a.SpecialUse != b.SpecialUse {
				if !attrWinnerA(a, b, sinceA, sinceB) {
					w = b
				}
			}
			tgt[g] = &target{name: w.Name, special: w.SpecialUse, stamp: w.Changed, uidValidity: w.UIDValidity}
		case okA:
			_, synced := psA[g]
			t, err := p.onOneSide(ctx, p.a, a, tB, psA[g], synced, stB.Counter, &delA)
			if err != nil {
				return false, err
			}
			if t != nil {
				tgt[g] = t
			}
		case okB:
			_, synced := psB[g]
			t, err := p.onOneSide(ctx, p.b, b, tA, psB[g], synced, stA.Counter, &delB)
			if err != nil {
				return false, err
			}
			if t != nil {
				tgt[g] = t
			}
		}
	}

	// Two mailboxes created apart under one name: the smaller id keeps
	// it, the other is renamed on every side (nothing is merged or lost).
	counter := max(stA.Counter, stB.Counter)
	byName := make(map[string][]string)
	for _, g := range guids {
		if t := tgt[g]; t != nil {
			byName[t.name] = append(byName[t.name], g)
		}
	}
	// In name order: the stamps handed out must not depend on a map's
	// iteration order, or two runs of one sync would differ.
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		gs := byName[name]
		for _, g := range gs[1:] {
			counter++
			tgt[g].name, tgt[g].stamp = clashName(name, g), counter
		}
	}

	opsA := append(delA, p.opsFor(mA, tgt, guids)...)
	opsB := append(delB, p.opsFor(mB, tgt, guids)...)
	subA, subB := subscriptionOps(stA, stB)
	opsA, opsB = append(opsA, subA...), append(opsB, subB...)

	if len(opsA) == 0 && len(opsB) == 0 && uint64(psB[""].Applied) >= stA.Counter && uint64(psA[""].Applied) >= stB.Counter {
		return false, nil // nothing changed on either side: nothing is written
	}
	if len(opsA)+len(opsB) > 0 {
		p.log().Debug("account changes", "for", p.nodeA, "ops", fmt.Sprint(opsA))
		p.log().Debug("account changes", "for", p.nodeB, "ops", fmt.Sprint(opsB))
	}
	resB, err := p.b.ApplyAccount(ctx, opsB, p.nodeA, &store.PeerState{Applied: store.ModSeq(stA.Counter)})
	if err != nil {
		return false, fmt.Errorf("apply on %s: %w", p.nodeB, err)
	}
	// What B has of A's changes now includes everything B's counter moved
	// to for them, when nothing else happened on B meanwhile: the sync's
	// own changes never echo back.
	appliedB := stB.Counter
	if resB.Before == stB.Counter {
		appliedB = resB.After
	}
	resA, err := p.a.ApplyAccount(ctx, opsA, p.nodeB, &store.PeerState{Applied: store.ModSeq(appliedB), Confirmed: store.ModSeq(stA.Counter)})
	if err != nil {
		return false, fmt.Errorf("apply on %s: %w", p.nodeA, err)
	}
	if resA.Before == stA.Counter && resA.After != stA.Counter {
		if err := p.b.SetPeerState(ctx, p.nodeA, "", store.PeerState{Applied: store.ModSeq(resA.After), Confirmed: store.ModSeq(appliedB)}); err != nil {
			return false, err
		}
	} else if store.ModSeq(appliedB) > psB[""].Confirmed {
		// A now has what B applied for it: B's record of that is what
		// lets B prune its mailbox tombstones (a delete of A's applied
		// here is confirmed only so).
		if err := p.b.SetPeerState(ctx, p.nodeA, "", store.PeerState{Confirmed: store.ModSeq(appliedB)}); err != nil {
			return false, err
		}
	}
	p.stats.AccountOps += len(opsA) + len(opsB)
	return false, nil
}

// matchInbox makes the two INBOXes one mailbox. Each replica creates its
// own INBOX with its user, so at first contact they differ: the one with
// messages wins (else the smaller id), and the other side's INBOX takes
// its identity. A losing INBOX that holds messages is first renamed
// (RFC 9051 6.3.6: its messages move to a new mailbox), so nothing is
// lost.
func (p *pair) matchInbox(ctx context.Context, stA, stB store.AccountState) (bool, error) {
	inA, okA := mailboxMap(stA)[inboxGUID(stA)]
	inB, okB := mailboxMap(stB)[inboxGUID(stB)]
	if !okA || !okB || inA.GUID == inB.GUID {
		return false, nil
	}
	emptyA, err := p.empty(ctx, p.a, inA)
	if err != nil {
		return false, err
	}
	emptyB, err := p.empty(ctx, p.b, inB)
	if err != nil {
		return false, err
	}
	aWins := inA.GUID < inB.GUID
	if emptyA != emptyB {
		aWins = emptyB
	}
	loser, win, loserEmpty := p.b, inA, emptyB
	lost := inB
	if !aWins {
		loser, win, loserEmpty, lost = p.a, inB, emptyA, inA
	}
	if !loserEmpty {
		if err := p.moveInboxAside(ctx, loser, lost); err != nil {
			return false, fmt.Errorf("move INBOX aside: %w", err)
		}
		return true, nil
	}
	_, err = loser.ApplyAccount(ctx, []store.AccountOp{{Kind: store.OpAdopt, GUID: lost.GUID, NewGUID: win.GUID, UIDValidity: win.UIDValidity}}, "", nil)
	p.stats.AccountOps++
	return true, err
}

// asideID is the replicated id of the mailbox an INBOX's messages move
// to when the INBOX loses a first contact: derived from the INBOX's id,
// so that every replica moving the same INBOX aside makes the same
// mailbox (with three replicas the INBOX may lose on two of them), and
// its copies meet as one mailbox instead of holding the messages twice.
func asideID(inbox string) string {
	sum := sha256.Sum256([]byte("inbox moved aside\x00" + inbox))
	return "M" + hex.EncodeToString(sum[:12])
}

// moveInboxAside moves the messages of INBOX in (RFC 9051 6.3.6's rename
// of INBOX) into the mailbox asideID(in), named INBOX-xxxxxxxx, keeping
// their UIDs, flags and ids and the INBOX's UIDVALIDITY, so that the
// copies made on different replicas agree message for message. A message
// arriving meanwhile is moved by the next attempt (the adoption that
// follows is refused while the INBOX holds one).
func (p *pair) moveInboxAside(ctx context.Context, u User, in store.MailboxInfo) error {
	aside := asideID(in.GUID)
	op := store.AccountOp{Kind: store.OpCreate, GUID: aside, Name: clashName("INBOX", in.GUID), UIDValidity: in.UIDValidity}
	if _, err := u.ApplyAccount(ctx, []store.AccountOp{op}, "", nil); err != nil {
		return err
	}
	src, err := u.Changes(ctx, in.GUID, 0, store.UIDSet{{Start: 1, Stop: store.MaxUID}})
	if err != nil {
		return err
	}
	dst, err := u.Changes(ctx, aside, 0, nil)
	if err != nil {
		return err
	}
	var moved store.UIDSet
	var part []Append
	flush := func(last bool) error {
		if len(part) == 0 && !last {
			return nil
		}
		b := Batch{Appends: part}
		if last {
			b.UIDNext = src.Mailbox.UIDNext
		}
		if _, err := u.Apply(ctx, aside, b); err != nil {
			return err
		}
		p.stats.Appends += len(part)
		part = part[:0]
		return nil
	}
	for _, m := range src.Messages {
		moved.Add(m.UID)
		if m.UID < dst.Mailbox.UIDNext {
			continue // moved by an earlier attempt
		}
		m.ModSeq = 0
		part = append(part, Append{Message: m}) // the store holds the bytes
		if len(part) == p.opts.batchMessages() {
			if err := flush(false); err != nil {
				return err
			}
		}
	}
	if err := flush(true); err != nil {
		return err
	}
	if moved.Empty() {
		return nil
	}
	_, err = u.Apply(ctx, in.GUID, Batch{Expunges: []store.Expunged{{UIDs: moved}}})
	return err
}

func (p *pair) empty(ctx context.Context, u User, m store.MailboxInfo) (bool, error) {
	if m.UIDNext == 1 {
		return true, nil
	}
	// The newest UIDs first: a mailbox that holds mail most often holds
	// some of them, and reading a few messages, not all of a large
	// mailbox (first contact of a user of 100,000 messages), answers.
	const probe = 64
	var below store.UIDSet
	if m.UIDNext > probe+1 {
		ms, err := u.Lookup(ctx, m.GUID, store.UIDSet{{Start: m.UIDNext - probe, Stop: store.MaxUID}})
		if err != nil || len(ms) > 0 {
			return false, err
		}
		below = store.UIDSet{{Start: 1, Stop: m.UIDNext - probe - 1}}
	} else {
		below = store.UIDSet{{Start: 1, Stop: store.MaxUID}}
	}
	ms, err := u.Lookup(ctx, m.GUID, below)
	return len(ms) == 0, err
}

// onOneSide settles a mailbox that only side X holds. If the other side
// deleted it, it goes, unless X has messages that arrived since the two
// last converged (UIDs at or above the UIDNEXT then): a delete never takes
// mail the deleting side did not see. The mailbox then stays with only
// those messages, and the other side creates it again.
//
// Without a tombstone it is new on X and the other side creates it,
// unless X has synced it with the other side (synced: X keeps a PeerState
// for it): then the other side held it and deleted it, and its tombstone
// has been pruned (store.Replica.PruneMailboxTombstones). The delete is
// then settled by the point of convergence alone, as for a tombstone
// without its record of what the delete saw, at the other side's counter
// now (otherCounter) as its stamp.
func (p *pair) onOneSide(ctx context.Context, x User, m store.MailboxInfo, otherTombs map[string]store.MailboxTombstone,
	psX store.PeerState, synced bool, otherCounter uint64, del *[]store.AccountOp) (*target, error) {
	t := &target{name: m.Name, special: m.SpecialUse, stamp: m.Changed, uidValidity: m.UIDValidity}
	tomb, deleted := otherTombs[m.GUID]
	pruned := !deleted && synced && m.Name != "INBOX"
	if !deleted && !pruned {
		return t, nil
	}
	if pruned {
		tomb = store.MailboxTombstone{GUID: m.GUID, Name: m.Name, Changed: otherCounter}
		p.log().Debug("mailbox deleted on the other side, tombstone pruned", "guid", m.GUID, "name", m.Name)
	}
	if tomb.Seen != nil && m.Name != "INBOX" {
		return p.deletedSeen(ctx, x, m, tomb, psX, t, del)
	}
	if m.Created > tomb.Changed && !pruned {
		// Created again after that delete (kept by an earlier sync with
		// another replica): the later change wins, and the other side
		// creates it.
		t.hms = psX.Applied
		return t, nil
	}
	u0 := max(psX.UIDNext, 1)
	newer, err := x.Lookup(ctx, m.GUID, store.UIDSet{{Start: u0, Stop: store.MaxUID}})
	if err != nil {
		return nil, err
	}
	// A message that arrived since and was expunged here is a write the
	// deleting side did not see either: the mailbox stays (empty), so
	// that its tombstone reaches the replicas that still hold the
	// message, instead of going with the mailbox and leaving a third
	// replica's copy to come back.
	if len(newer) == 0 && m.UIDNext <= u0 || m.Name == "INBOX" {
		if m.Name != "INBOX" {
			*del = append(*del, store.AccountOp{Kind: store.OpDelete, GUID: m.GUID, Name: m.Name, Stamp: tomb.Changed})
		}
		return nil, nil
	}
	if u0 > 1 {
		res, err := x.Apply(ctx, m.GUID, Batch{Expunges: []store.Expunged{{UIDs: store.UIDSet{{Start: 1, Stop: u0 - 1}}}}})
		if err != nil {
			return nil, err
		}
		_ = res
	}
	// The side that deleted it must not reuse modseqs X recorded from it.
	t.hms = psX.Applied
	t.stamp = max(m.Changed, tomb.Changed) + 1
	return t, nil
}

// opsFor lists what one side must do to reach the targets: renames (in
// two steps through temporary names when there are several, so that a
// swap of names works), then creations, then special-use changes.
func (p *pair) opsFor(have map[string]store.MailboxInfo, tgt map[string]*target, guids []string) []store.AccountOp {
	var renames, creates, special []store.AccountOp
	for _, g := range guids {
		t := tgt[g]
		if t == nil {
			continue
		}
		m, ok := have[g]
		if !ok {
			creates = append(creates, store.AccountOp{Kind: store.OpCreate, GUID: g, Name: t.name, UIDValidity: t.uidValidity,
				SpecialUse: t.special, Stamp: t.stamp, HighestModSeq: t.hms})
			continue
		}
		if m.Name != t.name {
			renames = append(renames, store.AccountOp{Kind: store.OpRename, GUID: g, Name: t.name, Stamp: t.stamp})
		}
		if m.SpecialUse != t.special {
			special = append(special, store.AccountOp{Kind: store.OpSpecialUse, GUID: g, SpecialUse: t.special, Stamp: t.stamp})
		}
	}
	var ops []store.AccountOp
	if len(renames) > 1 {
		for _, r := range renames {
			ops = append(ops, store.AccountOp{Kind: store.OpRename, GUID: r.GUID, Name: ".replica-rename-" + r.GUID})
		}
	}
	ops = append(ops, renames...)
	// Parents before children, so the order is the one a person would
	// have created them in.
	slices.SortFunc(creates, func(x, y store.AccountOp) int { return cmpString(x.Name, y.Name) })
	ops = append(ops, creates...)
	return append(ops, special...)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// attrWinnerA says whether A's name and special-use win over B's: the
// later stamp (stamps are Lamport clocks kept as the change's origin gave
// them, so every pair of replicas orders two changes alike), else the
// smaller name.
func attrWinnerA(a, b store.MailboxInfo, _, _ uint64) bool {
	if a.Changed != b.Changed {
		return a.Changed > b.Changed
	}
	return a.Name <= b.Name
}

// subscriptionOps settles each subscribed name like an attribute: the
// later stamp wins, else "subscribed".
func subscriptionOps(stA, stB store.AccountState) (forA, forB []store.AccountOp) {
	sa, sb := subMap(stA), subMap(stB)
	var names []string
	for n := range sa {
		names = append(names, n)
	}
	for n := range sb {
		if _, ok := sa[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		a, b := sa[n], sb[n]
		if a.Subscribed == b.Subscribed {
			continue
		}
		aWins := a.Subscribed
		if a.Changed != b.Changed {
			aWins = a.Changed > b.Changed
		}
		w := b
		if aWins {
			w = a
		}
		kind := store.OpUnsubscribe
		if w.Subscribed {
			kind = store.OpSubscribe
		}
		op := store.AccountOp{Kind: kind, Name: n, Stamp: w.Changed}
		if aWins {
			forB = append(forB, op)
		} else {
			forA = append(forA, op)
		}
	}
	return forA, forB
}

func mailboxMap(st store.AccountState) map[string]store.MailboxInfo {
	m := make(map[string]store.MailboxInfo, len(st.Mailboxes))
	for _, mb := range st.Mailboxes {
		m[mb.GUID] = mb
	}
	return m
}

func inboxGUID(st store.AccountState) string {
	for _, mb := range st.Mailboxes {
		if mb.Name == "INBOX" {
			return mb.GUID
		}
	}
	return ""
}

func tombstoneMap(st store.AccountState) map[string]store.MailboxTombstone {
	m := make(map[string]store.MailboxTombstone, len(st.Deleted))
	for _, t := range st.Deleted {
		m[t.GUID] = t
	}
	return m
}

func subMap(st store.AccountState) map[string]store.Subscription {
	m := make(map[string]store.Subscription, len(st.Subscriptions))
	for _, s := range st.Subscriptions {
		m[s.Name] = s
	}
	return m
}
