package storetx

import (
	"fmt"
	"slices"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// Applier is a backend's statements for applying a peer's batch of
// changes (store.Replica.Apply) beyond those of an expunge.
type Applier interface {
	Expunger
	// NewModSeq gives mailbox id a new modseq, max(HIGHESTMODSEQ+1,
	// atLeast).
	NewModSeq(id store.MailboxID, atLeast store.ModSeq) (store.ModSeq, error)
	// ExistingUIDs returns the UIDs of uids that name a message of
	// mailbox id.
	ExistingUIDs(id store.MailboxID, uids store.UIDSet) (store.UIDSet, error)
	// Untombstoned returns the UIDs of uids that are neither in covered
	// nor under a tombstone of mailbox id.
	Untombstoned(id store.MailboxID, uids, covered store.UIDSet) (store.UIDSet, error)
	// MergeExpungedID adds the EMAILIDs eid (one or several,
	// space-separated) to what is recorded for the tombstoned UID u
	// (store.Expunged.EmailIDs); a new record takes modseq 0, which
	// AddTombstones raises when it records an expunge of u.
	MergeExpungedID(id store.MailboxID, u store.UID, eid string) error
	// SetExpungedID records eid as the EMAILIDs of UID u, never held
	// here, at modseq 0, replacing any earlier record.
	SetExpungedID(id store.MailboxID, u store.UID, eid string) error
	// OtherPeers reports whether a peer other than peer has synced
	// mailbox guid with this replica.
	OtherPeers(guid, peer string) (bool, error)
	// MetadataEntry reads entry name of mailbox id: its value, whether it
	// has one, and the modseq of its last change.
	MetadataEntry(id store.MailboxID, name string) (value []byte, exists bool, ms store.ModSeq, err error)
	// PutMetadata: see MetadataTx.
	PutMetadata(id store.MailboxID, name string, value []byte, ms, stamp store.ModSeq) error
	// RaiseUIDNext sets mailbox id's UIDNEXT to uidNext, above it.
	RaiseUIDNext(id store.MailboxID, uidNext store.UID) error
	// SetHistoryFrom sets mailbox id's flag history point (flag changes
	// to messages at or below it record the flags they replace).
	SetHistoryFrom(id store.MailboxID, ms store.ModSeq) error
	// Touched returns the modseq the transaction gave to changes in
	// mailbox id, 0 when it changed nothing there.
	Touched(id store.MailboxID) store.ModSeq
	// SetPeerState raises the sync state recorded for peer and mailbox
	// guid and drops the flag history no peer needs any more.
	SetPeerState(peer, guid string, ps store.PeerState) error
}

// ApplyPlan is what Apply decided to write besides the backend's flag
// changes and appends.
type ApplyPlan struct {
	expunges []peerExpunge
	meta     []store.MetadataEntry
	// Local maps the peer modseq of each change that changes anything
	// to its local modseq.
	Local map[store.ModSeq]store.ModSeq
}

// PlanApply works out which of b's expunges and METADATA entries change
// anything in mailbox mb, then gives each distinct peer modseq among them
// and keys (those of the backend's effective flag changes and appends),
// ascending, its own local modseq: max(HIGHESTMODSEQ+1, the peer's
// modseq, b.ModSeq).
func PlanApply(t Applier, mb Mailbox, b store.Batch, keys []store.ModSeq) (ApplyPlan, error) {
	var p ApplyPlan
	exps, expKeys, err := planExpunges(t, mb, b)
	if err != nil {
		return p, err
	}
	keys = append(keys, expKeys...)
	meta, metaKeys, err := planMetadata(t, mb.ID, b)
	if err != nil {
		return p, err
	}
	keys = append(keys, metaKeys...)
	local, err := allocateModSeqs(t, mb.ID, keys, b.ModSeq)
	if err != nil {
		return p, err
	}
	return ApplyPlan{expunges: exps, meta: meta, Local: local}, nil
}

// peerExpunge is one expunge of a batch as it will be written.
type peerExpunge struct {
	// uids are the UIDs held here; unused those never held here that
	// get a tombstone all the same.
	uids, unused store.UIDSet
	ms           store.ModSeq
	ids          map[store.UID]string
	// past: only UIDs never held here, below UIDNEXT, expunged on the
	// peer at a modseq this mailbox has already passed. No client can
	// have them from here, so their tombstone takes the peer's modseq
	// as it is and allocates none: with one writing side the
	// replicas' modseqs stay identical.
	past bool
}

// planExpunges works out which of b's expunges change anything in
// mailbox mb, and returns them with the peer modseqs among them that need
// a local modseq (allocateModSeqs).
//
// An expunge takes the UIDs that exist, and, for a peer's expunges, UIDs
// this replica does not hold and has no tombstone for (never used here,
// at or above UIDNEXT, or below it: UIDNEXT already moved past them, by
// an earlier part of a split batch or a sync that read the peer's message
// and found it expunged by the time it looked it up), which get a
// tombstone at the peer's modseq so that a client that saw them there
// learns they vanished (VANISHED may name UIDs a client lacks, RFC 7162
// 3.2.10, so a UID that in fact went long ago is safe). UIDs already
// tombstoned change nothing.
func planExpunges(t Applier, mb Mailbox, b store.Batch) ([]peerExpunge, []store.ModSeq, error) {
	id := mb.ID
	var exps []peerExpunge
	var keys []store.ModSeq
	all := b.Expunges
	if !b.Expunge.Empty() {
		all = append([]store.Expunged{{UIDs: b.Expunge}}, all...)
	}
	for i, e := range all {
		present, err := t.ExistingUIDs(id, e.UIDs.Below(mb.UIDNext))
		if err != nil {
			return nil, nil, err
		}
		var unused store.UIDSet
		if i > 0 || b.Expunge.Empty() { // peer expunges only
			for _, r := range e.UIDs {
				if r.Stop >= mb.UIDNext {
					if r.Stop == store.MaxUID {
						return nil, nil, fmt.Errorf("expunge UID %d: %w", r.Stop, store.ErrInvalidUID)
					}
					unused.AddRange(max(r.Start, mb.UIDNext), r.Stop)
				}
			}
			covered := slices.Clone(present)
			for _, x := range exps { // claimed by an earlier expunge of the batch
				for _, r := range x.uids {
					covered.AddRange(r.Start, r.Stop)
				}
				for _, r := range x.unused {
					covered.AddRange(r.Start, r.Stop)
				}
			}
			below, err := t.Untombstoned(id, e.UIDs.Below(mb.UIDNext), covered)
			if err != nil {
				return nil, nil, err
			}
			for _, r := range below {
				unused.AddRange(r.Start, r.Stop)
			}
		}
		if i > 0 || b.Expunge.Empty() {
			// A UID already tombstoned here: its record takes the
			// peer's EMAILIDs too (each side may have expunged a
			// different message under it), without a new modseq.
			for u, eid := range e.EmailIDs {
				if u < mb.UIDNext && !present.Contains(u) && !unused.Contains(u) {
					if err := t.MergeExpungedID(id, u, eid); err != nil {
						return nil, nil, err
					}
				}
			}
		}
		if !present.Empty() || !unused.Empty() {
			past := present.Empty() && e.ModSeq != 0 && e.ModSeq <= mb.HighestModSeq
			if past {
				// Below this replica's HIGHESTMODSEQ another peer may
				// already have read past it: then only a fresh modseq
				// reaches it (three or more replicas). With one peer,
				// the peer's modseq keeps the replicas' modseqs equal.
				others, err := t.OtherPeers(mb.GUID, b.Peer)
				if err != nil {
					return nil, nil, err
				}
				past = !others
			}
			for _, r := range unused {
				past = past && r.Stop < mb.UIDNext
			}
			exps = append(exps, peerExpunge{present, unused, e.ModSeq, e.EmailIDs, past})
			if !past {
				keys = append(keys, e.ModSeq)
			}
		}
	}
	return exps, keys, nil
}

// planMetadata returns the entries of b that differ in mailbox id and
// were not changed here since the caller looked (b.UnchangedSince), and
// their peer modseqs.
func planMetadata(t Applier, id store.MailboxID, b store.Batch) ([]store.MetadataEntry, []store.ModSeq, error) {
	var meta []store.MetadataEntry
	var keys []store.ModSeq
	for _, e := range b.Metadata {
		old, exists, ms, err := t.MetadataEntry(id, e.Name)
		if err != nil {
			return nil, nil, err
		}
		if store.MetadataUnchanged(e.Value, old, exists) || b.UnchangedSince != 0 && ms > b.UnchangedSince {
			continue
		}
		meta = append(meta, e)
		keys = append(keys, e.ModSeq)
	}
	return meta, keys, nil
}

// allocateModSeqs gives each distinct peer modseq of keys, ascending, its
// own local modseq in mailbox id, max(HIGHESTMODSEQ+1, the peer's
// modseq, floor), and returns them by peer modseq. keys is sorted in
// place.
func allocateModSeqs(t Applier, id store.MailboxID, keys []store.ModSeq, floor store.ModSeq) (map[store.ModSeq]store.ModSeq, error) {
	slices.Sort(keys)
	keys = slices.Compact(keys)
	local := make(map[store.ModSeq]store.ModSeq, len(keys))
	for _, k := range keys {
		m, err := t.NewModSeq(id, max(k, floor))
		if err != nil {
			return nil, err
		}
		local[k] = m
	}
	return local, nil
}

// writeExpunges removes the messages of exps, tombstones them with what
// was never held here at their local modseqs (local, from
// allocateModSeqs), adds what it removed to res.Expunged and returns
// uidNext raised past the tombstoned UIDs never used here.
func writeExpunges(t Applier, id store.MailboxID, exps []peerExpunge, local map[store.ModSeq]store.ModSeq, uidNext store.UID, res *store.ApplyResult) (store.UID, error) {
	for _, e := range exps {
		gone, err := t.RemoveMessages(id, e.uids, 0)
		if err != nil {
			return 0, err
		}
		res.Expunged = append(res.Expunged, gone...)
		// A UID held here but expunged on the peer under another message
		// (a UID clash): its record names both, so the knowledge that the
		// peer's message was expunged travels on (store.Expunged.EmailIDs).
		for u, eid := range e.ids {
			if gone.Contains(u) {
				if err := t.MergeExpungedID(id, u, eid); err != nil {
					return 0, err
				}
			}
		}
		for _, r := range e.unused {
			gone.AddRange(r.Start, r.Stop)
			uidNext = max(uidNext, r.Stop+1)
		}
		for u, eid := range e.ids {
			if e.unused.Contains(u) {
				if err := t.SetExpungedID(id, u, eid); err != nil {
					return 0, err
				}
			}
		}
		ms := local[e.ms]
		if e.past {
			ms = e.ms
		}
		if err := AddTombstones(t, id, gone, ms); err != nil {
			return 0, err
		}
	}
	res.Expunged = res.Expunged.Normalize()
	return uidNext, nil
}

// writeMetadata sets the entries planMetadata chose at their local
// modseqs.
func writeMetadata(t Applier, id store.MailboxID, meta []store.MetadataEntry, local map[store.ModSeq]store.ModSeq) error {
	for _, e := range meta {
		if err := t.PutMetadata(id, e.Name, e.Value, local[e.ModSeq], e.Stamped()); err != nil {
			return err
		}
	}
	return nil
}

// FinishApply ends the apply of b to mailbox mb (its flag history point
// historyFrom) once the backend has written its flag changes and appends
// (UIDNEXT now uidNext): it writes p's expunges and METADATA entries,
// raises UIDNEXT to the batch's, giving a raise that changed nothing else
// a modseq, raises HIGHESTMODSEQ to the batch's, moves the flag history
// point when the batch keeps history, records the sync state unless a
// flag change was refused, and fills the rest of res.
func FinishApply(t Applier, mb Mailbox, historyFrom store.ModSeq, b store.Batch, p ApplyPlan, uidNext store.UID, res *store.ApplyResult) error {
	id := mb.ID
	uidNext, err := writeExpunges(t, id, p.expunges, p.Local, uidNext, res)
	if err != nil {
		return err
	}
	if err := writeMetadata(t, id, p.meta, p.Local); err != nil {
		return err
	}
	if b.UIDNext > uidNext && len(p.Local) == 0 {
		// A raise alone is a change sessions show: it gets a modseq so
		// that it is published.
		if _, err := t.ModSeq(id); err != nil {
			return err
		}
	}
	uidNext = max(uidNext, b.UIDNext)
	if uidNext > mb.UIDNext {
		if err := t.RaiseUIDNext(id, uidNext); err != nil {
			return err
		}
	}
	res.UIDNext = uidNext
	after, err := t.Mailbox(id)
	if err != nil {
		return err
	}
	res.After = after.HighestModSeq
	if b.HighestModSeq > res.After {
		if res.After, err = t.NewModSeq(id, b.HighestModSeq); err != nil {
			return err
		}
	}
	res.ModSeq = t.Touched(id)
	if b.KeepHistory && res.After > historyFrom {
		if err := t.SetHistoryFrom(id, res.After); err != nil {
			return err
		}
	}
	if b.Sync != nil && res.Modified.Empty() {
		return t.SetPeerState(b.Peer, mb.GUID, *b.Sync)
	}
	return nil
}
