package store

import (
	"slices"
	"strings"
)

// FlagStamps records, per flag of one message, the stamp of the change
// that gave the flag its current value, for replication
// (docs/replication.md, "Conflict rules"): a flag set or cleared on two
// replicas apart takes the value of the later change, whatever replica
// the changes travelled through. Keys are FlagName spellings; a flag
// absent from the map has stamp 0 (its value dates from the message's
// arrival).
//
// A stamp is a modseq of the mailbox: a client's change takes the modseq
// it is committed at, a change applied from a peer keeps the stamp its
// origin gave it. Modseqs are Lamport clocks between replicas (a peer's
// change raises HIGHESTMODSEQ to at least its modseq), so a change made
// after seeing another has a larger stamp.
type FlagStamps map[string]ModSeq

// systemFlagNames are the system flags in bit order, as FlagName spells
// them.
var systemFlagNames = [...]string{`\seen`, `\answered`, `\flagged`, `\deleted`, `\draft`}

// FlagName is the key of a flag in FlagStamps: a system flag (bit) as
// "\seen" etc., a keyword lower-cased (keywords are case-insensitive).
func FlagName(bit SystemFlags, keyword string) string {
	if keyword != "" {
		return strings.ToLower(keyword)
	}
	for i, n := range systemFlagNames {
		if bit == 1<<i {
			return n
		}
	}
	return ""
}

// HasFlag reports whether f carries the flag named name (FlagName).
func (f Flags) HasFlag(name string) bool {
	if strings.HasPrefix(name, `\`) {
		for i, n := range systemFlagNames {
			if n == name {
				return f.System&(1<<i) != 0
			}
		}
		return false
	}
	return f.Has(name)
}

// FlagNames lists the flags f carries, by FlagName.
func (f Flags) FlagNames() []string {
	var out []string
	for i, n := range systemFlagNames {
		if f.System&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	for _, k := range f.Keywords {
		out = append(out, strings.ToLower(k))
	}
	return out
}

// ChangedFlags lists, by FlagName, the flags whose value differs between
// old and new: those a change from old to new stamps.
func ChangedFlags(old, new Flags) []string {
	var out []string
	for i, n := range systemFlagNames {
		if (old.System^new.System)&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	for _, k := range old.Keywords {
		if !new.Has(k) {
			out = append(out, strings.ToLower(k))
		}
	}
	for _, k := range new.Keywords {
		if !old.Has(k) {
			out = append(out, strings.ToLower(k))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Stamped is the entry's stamp (MetadataEntry.Stamp), its ModSeq where
// none is given.
func (e MetadataEntry) Stamped() ModSeq {
	if e.Stamp != 0 {
		return e.Stamp
	}
	return e.ModSeq
}
