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
