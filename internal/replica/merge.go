package replica

import (
	"strings"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// mergeFlags merges the flags a message has on two replicas that both
// changed it since they last converged, one flag at a time
// (docs/replication.md, "Conflicts"):
//
//   - a flag both sides agree on keeps that value;
//   - otherwise, when base (the flags at the last sync, from the flag
//     history) is known, the side that changed the flag wins: an add on
//     one side and the removal of another flag on the other both survive;
//   - without a base, the side whose message changed later (the higher
//     modseq: modseqs order changes across replicas, since a peer's change
//     is applied at max(HIGHESTMODSEQ+1, its modseq)) wins, and on a tie
//     the flag is set, so both replicas compute the same answer.
func mergeFlags(base *store.Flags, a store.Flags, aMS store.ModSeq, b store.Flags, bMS store.ModSeq) store.Flags {
	pick := func(va, vb, vbase, known bool) bool {
		switch {
		case va == vb:
			return va
		case known && va != vbase:
			return va
		case known:
			return vb
		case aMS != bMS:
			if aMS > bMS {
				return va
			}
			return vb
		}
		return true
	}
	var out store.Flags
	for bit := store.SystemFlags(1); bit <= store.FlagDraft; bit <<= 1 {
		var vbase bool
		if base != nil {
			vbase = base.System&bit != 0
		}
		if pick(a.System&bit != 0, b.System&bit != 0, vbase, base != nil) {
			out.System |= bit
		}
	}
	var all []string
	for _, k := range a.Keywords {
		all = append(all, k)
	}
	for _, k := range b.Keywords {
		if !a.Has(k) {
			all = append(all, k)
		}
	}
	if base != nil {
		for _, k := range base.Keywords {
			if !a.Has(k) && !b.Has(k) {
				all = append(all, k)
			}
		}
	}
	for _, k := range all {
		if pick(a.Has(k), b.Has(k), base != nil && base.Has(k), base != nil) {
			out.Keywords = append(out.Keywords, k)
		}
	}
	out.Keywords = store.NormalizeKeywords(out.Keywords)
	return out
}

// flagsEqual compares flags, keywords case-insensitively.
func flagsEqual(a, b store.Flags) bool {
	if a.System != b.System || len(a.Keywords) != len(b.Keywords) {
		return false
	}
	for _, k := range a.Keywords {
		if !b.Has(k) {
			return false
		}
	}
	return true
}

// clashName is the name a mailbox takes when another mailbox, created
// independently on another replica, has its name: the name and the first
// eight characters of its replicated id.
func clashName(name, guid string) string {
	id := strings.TrimPrefix(guid, "M")
	if len(id) > 8 {
		id = id[:8]
	}
	return name + "-" + id
}

// mergeMetadata settles the RFC 5464 entries two replicas changed since
// they last converged (a.ch.Metadata, b.ch.Metadata; for server entries,
// every entry each holds), one entry at a time, and plans what each side
// receives: an entry changed on one side only goes to the other; changed
// on both to different values, the later change (the larger stamp: the
// modseq its origin gave it, a Lamport clock between replicas as for
// flags) wins, and on a tie a value beats none, then the larger value, so
// every replica decides alike. A deleted entry is a nil Value, so a
// delete travels like a change.
func mergeMetadata(a, b *side) {
	onA := make(map[string]bool, len(a.ch.Metadata))
	for _, e := range a.ch.Metadata {
		onA[e.Name] = true
	}
	onB := make(map[string]store.MetadataEntry, len(b.ch.Metadata))
	for _, e := range b.ch.Metadata {
		onB[e.Name] = e
	}
	for _, e := range a.ch.Metadata {
		o, both := onB[e.Name]
		switch {
		case !both || laterEntry(e, o):
			b.batch.Metadata = append(b.batch.Metadata, e)
		case laterEntry(o, e):
			a.batch.Metadata = append(a.batch.Metadata, o)
		}
	}
	for _, e := range b.ch.Metadata {
		if !onA[e.Name] {
			a.batch.Metadata = append(a.batch.Metadata, e)
		}
	}
}

// laterEntry reports whether x beats y (same name): a different value
// changed later (a larger stamp), or at the same stamp a value over none,
// then the larger value. Equal values beat nothing.
func laterEntry(x, y store.MetadataEntry) bool {
	if (x.Value == nil) == (y.Value == nil) && string(x.Value) == string(y.Value) {
		return false
	}
	switch {
	case x.Stamped() != y.Stamped():
		return x.Stamped() > y.Stamped()
	case (x.Value == nil) != (y.Value == nil):
		return y.Value == nil
	default:
		return string(x.Value) > string(y.Value)
	}
}
