package replica

import (
	"slices"

	"github.com/tidemark-mail/tidemark/internal/store"
)

// mergeStamped merges the flags a message has on two replicas one flag at
// a time by their stamps (store.FlagStamps): the flag takes the value of
// the change with the larger stamp, a change made after seeing another
// always having the larger one, and at equal stamps the flag is set, so
// every replica decides alike whichever way the changes travelled (with
// three or more replicas, a change applied from a third one keeps its
// origin's stamp instead of counting as a change of the side that
// applied it). A flag at stamp 0 on both sides with different values
// (changed before the mailbox was first synced by a stamping version)
// takes its value in unstamped, the merge by which side changed. It
// returns the merged flags with their stamps: per flag the larger.
func mergeStamped(a, b Message, unstamped store.Flags) (store.Flags, store.FlagStamps) {
	names := append(a.Flags.FlagNames(), b.Flags.FlagNames()...)
	for n := range a.Stamps {
		names = append(names, n)
	}
	for n := range b.Stamps {
		names = append(names, n)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	var out store.Flags
	var st store.FlagStamps
	for _, n := range names {
		va, vb := a.Flags.HasFlag(n), b.Flags.HasFlag(n)
		sa, sb := a.Stamps[n], b.Stamps[n]
		v := va
		switch {
		case va == vb:
		case sa == 0 && sb == 0:
			v = unstamped.HasFlag(n)
		case sa != sb:
			v = vb
			if sa > sb {
				v = va
			}
		default:
			v = true
		}
		if s := max(sa, sb); s != 0 {
			if st == nil {
				st = make(store.FlagStamps)
			}
			st[n] = s
		}
		if !v {
			continue
		}
		if bit := systemFlag(n); bit != 0 {
			out.System |= bit
			continue
		}
		// The keyword as a side spells it.
		for _, f := range []store.Flags{a.Flags, b.Flags, unstamped} {
			if i := slices.IndexFunc(f.Keywords, func(k string) bool { return store.FlagName(0, k) == n }); i >= 0 {
				out.Keywords = append(out.Keywords, f.Keywords[i])
				break
			}
		}
	}
	out.Keywords = store.NormalizeKeywords(out.Keywords)
	return out, st
}

// systemFlag returns the bit of the system flag named n (store.FlagName),
// 0 for a keyword.
func systemFlag(n string) store.SystemFlags {
	for bit := store.SystemFlags(1); bit <= store.FlagDraft; bit <<= 1 {
		if store.FlagName(bit, "") == n {
			return bit
		}
	}
	return 0
}
